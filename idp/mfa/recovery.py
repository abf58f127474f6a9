"""Recovery codes: ten single-use codes, shown once, kept only as digests.

Each code is 16 characters of Crockford's base32 (80 random bits), so a SHA-256 digest is as
safe as a slow hash (the same reasoning as for client secrets), and the digest includes the
person's subject so one person's code can never be spent by another. Spending is a conditional
UPDATE: two concurrent uses of one code cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.mfa_models import PasskeyCredential, RecoveryCode, TotpCredential
from idp.db.models import utcnow

COUNT = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford: no i, l, o, u
LENGTH = 16
_READ_AS = str.maketrans({"i": "1", "l": "1", "o": "0"})


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, LENGTH, 4))


def normalise(code: str) -> str | None:
    cleaned = "".join(ch for ch in code.lower() if ch not in " -\t").translate(_READ_AS)
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def digest(subject: str, code: str) -> str:
    return hashlib.sha256(f"campus-idp recovery:{subject}:{code}".encode()).hexdigest()


async def regenerate(db: async_sessionmaker, subject: str) -> list[str]:
    """A fresh set of codes (the old ones stop working); returned once, for showing once."""
    codes = [_new_code() for _ in range(COUNT)]
    async with db() as session, session.begin():
        await session.execute(delete(RecoveryCode).where(RecoveryCode.subject == subject))
        for code in codes:
            session.add(RecoveryCode(subject=subject, digest=digest(subject, normalise(code) or "")))
    return codes


async def remaining(db: async_sessionmaker, subject: str) -> int:
    async with db() as session:
        count = await session.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.subject == subject, RecoveryCode.used_at.is_(None)))
    return int(count or 0)


async def spend(db: async_sessionmaker, subject: str, code: str) -> bool:
    """Use up one code; True when it was the person's and unused."""
    cleaned = normalise(code)
    if cleaned is None:
        return False
    async with db() as session, session.begin():
        result = await session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.subject == subject, RecoveryCode.digest == digest(subject, cleaned),
                   RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow()))
    return result.rowcount == 1


async def remove_all(db: async_sessionmaker, subject: str) -> None:
    async with db() as session, session.begin():
        await session.execute(delete(RecoveryCode).where(RecoveryCode.subject == subject))


async def remove_without_factor(db: async_sessionmaker, subject: str) -> int:
    """After a factor is removed: the codes go too when it was the last one (they stand in for
    a factor, so none may outlive them all). One statement, so an authenticator app enrolled at
    the same moment (with its new codes) is seen and its codes stay. Returns how many went."""
    async with db() as session, session.begin():
        result = await session.execute(delete(RecoveryCode).where(
            RecoveryCode.subject == subject,
            ~exists().where(TotpCredential.subject == subject),
            ~exists().where(PasskeyCredential.subject == subject)))
    return int(result.rowcount or 0)
