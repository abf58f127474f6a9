"""What a person has enrolled as second factors, and what a password login needs to know to
decide on one: each read in one round trip (every password login runs `login_facts`, the
second-factor page `factors_of`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db.engine import one_statement_engine
from idp.db.mfa_models import PasskeyCredential, RecoveryCode, TotpCredential
from idp.db.models import Client
from idp.db.pg_direct import pg_direct


@dataclass(frozen=True)
class Factors:
    totp: bool
    passkeys: int
    recovery_codes: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0


# Core statements, built once: every password login runs _LOGIN_FACTS (second_factor_step), and
# the second-factor page _FACTORS; each is one round trip instead of one query per factor table
_totp = TotpCredential.__table__.c
_passkeys = PasskeyCredential.__table__.c
_recovery = RecoveryCode.__table__.c
_subject = bindparam("subject")

_FACTORS = select(
    exists().where(_totp.subject == _subject).label("totp"),
    select(func.count()).where(_passkeys.subject == _subject).scalar_subquery().label("passkeys"),
    select(func.count()).where(_recovery.subject == _subject, _recovery.used_at.is_(None))
    .scalar_subquery().label("recovery_codes"),
)

# what a password login needs to decide on a second factor, in one round trip: the client's
# policy (read fresh, not from the client cache, so switching require_mfa on takes effect at
# once) and whether the person has enrolled a factor (Factors.any: an app or a passkey)
_LOGIN_FACTS = select(
    select(Client.__table__.c.extra).where(Client.__table__.c.client_id == bindparam("client_id"))
    .scalar_subquery().label("client_extra"),
    or_(exists().where(_totp.subject == _subject),
        exists().where(_passkeys.subject == _subject)).label("enrolled"),
)


async def factors_of(engine: AsyncEngine, subject: str) -> Factors:
    """What the person has enrolled: the second-factor page offers exactly these."""
    async with one_statement_engine(engine).connect() as conn:
        row = (await conn.execute(_FACTORS, {"subject": subject})).one()
    return Factors(totp=bool(row.totp), passkeys=int(row.passkeys or 0),
                   recovery_codes=int(row.recovery_codes or 0))


async def login_facts(engine: AsyncEngine, client_id: str,
                      subject: str) -> tuple[dict[str, Any] | None, bool]:
    """(the client's `extra`, None when there is no such client; whether the person has enrolled
    a second factor)."""
    direct = pg_direct(engine)
    if direct is not None:
        return await direct.login_facts(client_id, subject)
    async with one_statement_engine(engine).connect() as conn:
        row = (await conn.execute(_LOGIN_FACTS, {"client_id": client_id,
                                                 "subject": subject})).one()
    return row.client_extra, bool(row.enrolled)


