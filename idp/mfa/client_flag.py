"""The per-client switch "this app requires a second factor": Client.extra["require_mfa"].

Kept in the client's `extra` JSON (no schema change), set by `idp clients add --require-mfa`
or the admin console, read by idp.mfa.policy.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import Client

FLAG = "require_mfa"


async def set_require_mfa(db: async_sessionmaker, client_id: str, required: bool = True) -> bool:
    """Switch the requirement on or off; False when there is no such client."""
    async with db() as session, session.begin():
        client = await session.scalar(select(Client).where(Client.client_id == client_id))
        if client is None:
            return False
        extra = dict(client.extra or {})  # a new dict, so the JSON column is seen as changed
        if required:
            extra[FLAG] = True
        else:
            extra.pop(FLAG, None)
        client.extra = extra
    return True
