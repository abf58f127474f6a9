"""Telling an app that a session ended, reliably: one POST per app, retried with backoff and
recorded in a LogoutDelivery row (status, attempts, last error), a failure audited. Each
protocol's single logout notifier (OIDC back-channel logout, CAS SAML LogoutRequest) says what
the form carries; this says how it is delivered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.audit import Audit
from idp.db.models import LogoutDelivery

log = logging.getLogger("idp.logout")

DELIVERY_TIMEOUT = 5.0  # seconds per POST
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.5)  # pauses between attempts: 3 attempts in all
MAX_CONCURRENT_DELIVERIES = 10


def delivery_client() -> httpx.AsyncClient:
    # no redirects: the notice goes to the registered URI or nowhere
    return httpx.AsyncClient(timeout=DELIVERY_TIMEOUT, follow_redirects=False)


class Deliveries:
    def __init__(self, db: async_sessionmaker, audit: Audit) -> None:
        self.db = db
        self.audit = audit

    async def post(self, http: httpx.AsyncClient, limit: asyncio.Semaphore, *, client_id: str,
                   uri: str, subject: str, sid: str,
                   form: Callable[[], dict[str, str]]) -> str:
        """POST `form()` (made afresh for every attempt: a new token id each time) until the app
        answers 2xx or the attempts run out: "delivered" or "failed"."""
        delivery = LogoutDelivery(client_id=client_id, uri=uri, subject=subject, sid=sid)
        async with self.db() as db, db.begin():
            db.add(delivery)
        error: str | None = None
        attempts = len(RETRY_DELAYS) + 1
        for attempt in range(1, attempts + 1):
            async with limit:
                try:
                    response = await http.post(uri, data=form(),
                                               headers={"Cache-Control": "no-cache"})
                    error = None if response.is_success else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
            await self._record(delivery.id, attempt, error)
            if error is None:
                return "delivered"
            if attempt < attempts:
                await asyncio.sleep(RETRY_DELAYS[attempt - 1])
        log.warning("logout notice to %s (%s) failed: %s", client_id, uri, error)
        await self.audit.record("logout_delivery", "failed", client_id=client_id,
                                subject=subject, error=error)
        return "failed"

    async def _record(self, delivery_id: int, attempt: int, error: str | None) -> None:
        async with self.db() as db, db.begin():
            row = await db.get(LogoutDelivery, delivery_id)
            if row is None:
                return
            row.attempts = attempt
            row.last_error = error
            if error is None:
                row.status, row.delivered_at = "delivered", datetime.now(UTC)
            elif attempt > len(RETRY_DELAYS):
                row.status = "failed"
