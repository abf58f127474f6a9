"""The audit log: every login success and failure, every token issued, every admin action."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import AuditEvent

log = logging.getLogger("idp.audit")


class Audit:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def record(
        self, kind: str, outcome: str, *, actor: str | None = None, client_id: str | None = None,
        ip: str | None = None, **detail: Any,
    ) -> None:
        """Write one event. A failing audit write is logged loudly but never turns a successful
        login into an error page."""
        event = AuditEvent(kind=kind, outcome=outcome, actor=actor, client_id=client_id, ip=ip,
                           detail=detail)
        try:
            async with self._sessions() as db, db.begin():
                db.add(event)
        except SQLAlchemyError:
            log.exception("audit write failed: %s %s %s", kind, outcome, actor)
