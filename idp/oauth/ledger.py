"""Where issued grants are kept and revoked (async): codes and revoked access-token ids in the
Store, refresh token families in SQL. Only digests are stored, never the tokens themselves."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from idp.db.models import RefreshToken
from idp.oauth.models import StoredCode

if TYPE_CHECKING:
    from idp.app import Services

log = logging.getLogger("idp.oauth")

# how long a redeemed code is remembered, so that a replay can still revoke what it issued
# (RFC 6749 §4.1.2); at least as long as the access token it produced lives
CODE_USED_MIN_SECONDS = 600


async def take_code(services: Services, digest: str) -> StoredCode | None:
    """The code's grant, removed from the Store in the same step (Redis GETDEL)."""
    raw = await services.store.take(f"code:{digest}")
    if raw is None:
        return None
    try:
        return StoredCode.from_json(raw)
    except (ValueError, TypeError):
        log.error("unreadable authorization code record %s…", digest[:8])
        return None


async def remember_code_use(services: Services, digest: str, *, jti: str | None,
                            exp: int | None, family: str | None) -> None:
    ttl = max(CODE_USED_MIN_SECONDS, services.settings.tokens.access_token_ttl + 60)
    marker = json.dumps({"jti": jti, "exp": exp, "family": family})
    await services.store.put(f"code-used:{digest}", marker, ttl)


async def revoke_code_grants(services: Services, digest: str) -> dict[str, Any] | None:
    """A redeemed code came back: revoke the access token and the refresh family it issued.
    Returns what was revoked (None when the code was never redeemed here)."""
    raw = await services.store.get(f"code-used:{digest}")
    if raw is None:
        return None
    marker = json.loads(raw)
    if marker.get("jti") and marker.get("exp"):
        await revoke_jti(services, marker["jti"], int(marker["exp"]))
    if marker.get("family"):
        await revoke_families(services, [marker["family"]])
    return marker


async def revoke_jti(services: Services, jti: str, exp: int) -> None:
    remaining = int(exp - time.time())
    if remaining > 0:
        await services.store.put(f"revoked-jti:{jti}", "1", remaining + 60)


async def is_jti_revoked(services: Services, jti: str) -> bool:
    return await services.store.get(f"revoked-jti:{jti}") is not None


async def refresh_row(services: Services, digest: str) -> RefreshToken | None:
    async with services.db() as db:
        return await db.get(RefreshToken, digest)


async def revoke_families(services: Services, families: list[str]) -> None:
    if not families:
        return
    async with services.db() as db, db.begin():
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id.in_(families), RefreshToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )


async def store_refresh(services: Services, new: RefreshToken, rotated: str | None) -> bool:
    """Insert the new refresh token; when it replaces `rotated`, mark that one rotated in the
    same transaction, but only if nobody else did first (conditional UPDATE). False means a
    concurrent request won the rotation: the caller must treat this one as reuse."""
    try:
        async with services.db() as db, db.begin():
            if rotated is not None:
                result = await db.execute(
                    update(RefreshToken)
                    .where(RefreshToken.digest == rotated, RefreshToken.rotated_at.is_(None),
                           RefreshToken.revoked_at.is_(None))
                    .values(rotated_at=datetime.now(UTC))
                )
                if result.rowcount != 1:
                    raise _RotationLost
            db.add(new)
    except _RotationLost:
        return False
    return True


class _RotationLost(Exception):
    """Another request rotated the refresh token first (rolls the transaction back)."""

