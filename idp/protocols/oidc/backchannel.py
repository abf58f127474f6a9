"""OpenID Connect Back-Channel Logout 1.0: how OIDC tells its apps that a session ended.

The sign-in core's single logout (idp/sso/logout.py) hands over the session and the apps it
signed into; `BackChannelLogout.notify` POSTs a logout token to every one of them that registered
a `backchannel_logout_uri`. Deliveries run concurrently (bounded), each retried with backoff and
recorded in a LogoutDelivery row.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select

from idp.db.models import Client, LogoutDelivery
from idp.sso.sessions import SsoSession

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger("idp.logout")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # seconds; the RP checks it at once, a short life limits replay
DELIVERY_TIMEOUT = 5.0  # seconds per POST
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.5)  # pauses between attempts: 3 attempts in all
MAX_CONCURRENT_DELIVERIES = 10


def logout_token(services: Services, client: Client, *, subject: str, sid: str) -> str:
    """A logout token (Back-Channel Logout 1.0 §2.4): iss, aud, iat, exp, jti, sub, sid and
    the events claim, never a nonce (§2.4 forbids one, so it cannot pass as an ID token);
    header typ "logout+jwt" (§2.4, and RFC 8725 §3.11 explicit typing)."""
    now = int(time.time())
    claims = {
        "iss": services.settings.issuer, "aud": client.client_id, "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL, "jti": secrets.token_urlsafe(16), "sub": subject,
        "sid": sid, "events": {BACKCHANNEL_EVENT: {}},
    }
    alg = client.id_token_signed_response_alg
    return services.keys.sign(claims, alg=alg if alg in ("RS256", "ES256") else "RS256",
                              typ="logout+jwt")


class BackChannelLogout:
    """The OIDC notifier of the sign-in core's single logout."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def notify(self, session: SsoSession, apps: set[str]) -> dict[str, str]:
        clients = await self._backchannel_clients(apps)
        if not clients:
            return {}
        limit = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        # no redirects: the token goes to the registered URI or nowhere
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT, follow_redirects=False) as http:
            outcomes = await asyncio.gather(*(
                self._deliver(http, limit, client, subject=session.subject, sid=session.sid)
                for client in clients))
        return {client.client_id: outcome
                for client, outcome in zip(clients, outcomes, strict=True)}

    async def _backchannel_clients(self, apps: set[str]) -> list[Client]:
        async with self.services.db() as db:
            rows = await db.execute(select(Client).where(
                Client.client_id.in_(sorted(apps)), Client.backchannel_logout_uri.is_not(None)))
            return [c for c in rows.scalars() if c.backchannel_logout_uri]

    async def _deliver(self, http: httpx.AsyncClient, limit: asyncio.Semaphore, client: Client,
                       *, subject: str, sid: str) -> str:
        """POST the token (application/x-www-form-urlencoded, §2.5) until the RP answers 2xx
        (§2.8: 200, or 204 from some frameworks) or the attempts run out."""
        services = self.services
        uri = client.backchannel_logout_uri or ""
        delivery = LogoutDelivery(client_id=client.client_id, uri=uri, subject=subject, sid=sid)
        async with services.db() as db, db.begin():
            db.add(delivery)
        error: str | None = None
        attempts = len(RETRY_DELAYS) + 1
        for attempt in range(1, attempts + 1):
            # a fresh jti per attempt: an RP that saw the jti before failing may reject a replay
            token = logout_token(services, client, subject=subject, sid=sid)
            async with limit:
                try:
                    response = await http.post(uri, data={"logout_token": token}, headers={
                        "Cache-Control": "no-cache"})
                    error = None if response.is_success else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
            await self._record(delivery.id, attempt, error)
            if error is None:
                return "delivered"
            if attempt < attempts:
                await asyncio.sleep(RETRY_DELAYS[attempt - 1])
        log.warning("back-channel logout to %s (%s) failed: %s", client.client_id, uri, error)
        await services.audit.record("logout_delivery", "failed", client_id=client.client_id,
                                    subject=subject, error=error)
        return "failed"

    async def _record(self, delivery_id: int, attempt: int, error: str | None) -> None:
        async with self.services.db() as db, db.begin():
            row = await db.get(LogoutDelivery, delivery_id)
            if row is None:
                return
            row.attempts = attempt
            row.last_error = error
            if error is None:
                row.status, row.delivered_at = "delivered", datetime.now(UTC)
            elif attempt > len(RETRY_DELAYS):
                row.status = "failed"
