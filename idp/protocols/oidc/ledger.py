"""Where issued grants are kept and revoked (async): codes and revoked access-token ids in the
Store, refresh token families in SQL. Only digests are stored, never the tokens themselves.

Refresh tokens are read and written on every refresh_token grant, where the ORM's unit of work
and identity map cost more than the SQL itself. A grant claims its token first (`claim_refresh`):
on PostgreSQL one statement sent straight through asyncpg (idp/db/pg_direct.py, a data-modifying
CTE) marks it rotated and inserts its successor, so the grant costs the database one statement;
a grant refused after its claim gives it back (`release_claim`). Only when nothing could be
claimed is the row looked up, to tell a reuse from an unknown token. Elsewhere (SQLite) they are
SQLAlchemy Core statements built once, here, in one transaction.

What a revocation reaches, and how:
- a code: kept under its digest *and the client it was issued to* (for a public client also its
  PKCE challenge), so only a request that could redeem it finds it: another client, a wrong
  secret, a public client's id without the verifier can neither use it up nor, once it was
  used, meet its trace and revoke what it issued (RFC 6749 §4.1.2);
- a refresh-token family: its rows in SQL; the access token issued with each refresh token is
  named after it (`access_jti`), so revoking a family puts those access tokens on the
  revoked-jti list too, without a column of their own;
- everything of a person: the sign-in core's mark (idp/sso/revocation.py), which an access
  token's `auth_time` is checked against wherever it is used (and a redemption that begins a
  refresh family, before it is sent), and `OidcGrants.revoke_person` for the refresh tokens.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import bindparam, delete, insert, select, update

from idp.db.engine import one_statement_engine
from idp.db.models import RefreshToken
from idp.db.pg_direct import pg_direct
from idp.protocols.oidc.models import RefreshRecord, StoredCode
from idp.protocols.oidc.tokens import access_jti
from idp.sso.revocation import covered_by_mark, mark_key

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger("idp.oauth")

# how long a redeemed code is remembered, so that a replay can still revoke what it issued
# (RFC 6749 §4.1.2); at least as long as the access token it produced lives
CODE_USED_MIN_SECONDS = 600


def code_key(code_digest: str, client_id: str, challenge: str | None) -> str:
    """Where a code is kept: `challenge` is a public client's S256 PKCE challenge (None for a
    confidential client, which authenticates instead). A public client's id is no secret, its
    code_verifier is: a request without the right one finds nothing to use up."""
    key = f"code:{code_digest}:{client_id}"
    return f"{key}:{challenge}" if challenge else key


def redemption_key(code_digest: str, client_id: str, public: bool,
                   verifier: str | None) -> str | None:
    """The key a token request may take: None for a public client that sent no verifier."""
    if not public:
        return code_key(code_digest, client_id, None)
    if not verifier:
        return None
    return code_key(code_digest, client_id, create_s256_code_challenge(verifier))


def code_trace(services: Services, *, jti: str, exp: int, family: str) -> tuple[str, int]:
    """What a redeemed code leaves behind, and for how long: the access token id and the refresh
    family its redemption issues (chosen before issuing), so that a replay can revoke them."""
    ttl = max(CODE_USED_MIN_SECONDS, services.settings.tokens.access_token_ttl + 60)
    return json.dumps({"jti": jti, "exp": exp, "family": family}), ttl


async def redeem_code(services: Services, key: str, trace: str,
                      ttl: int) -> tuple[StoredCode | None, dict[str, Any] | None]:
    """Take the code's grant out of the Store and leave `trace` in the same atomic step: (grant,
    None). A code that was already redeemed gives (None, the trace of that redemption); there is
    no moment in which a replay finds neither the code nor its trace. The trace is kept under
    the code's key, so only a request that could have redeemed the code meets it."""
    raw, found = await services.store.take_leaving(key, f"used-{key}", trace, ttl)
    if raw is None:
        return None, _read_trace(found, key)
    try:
        return StoredCode.from_json(raw), None
    except (ValueError, TypeError):
        log.error("unreadable authorization code record %s…", key[5:13])
        return None, None


def _read_trace(found: str | None, key: str) -> dict[str, Any] | None:
    if found is None:
        return None
    try:
        trace = json.loads(found)
    except ValueError:
        trace = None
    if not isinstance(trace, dict):
        log.error("unreadable redeemed-code trace %s…", key[5:13])
        return None
    return trace


async def revoke_code_grants(services: Services, trace: dict[str, Any]) -> None:
    """A redeemed code came back: revoke the access token and the refresh family it issued.
    The family is also marked in the Store first: a redemption that is still committing its
    refresh token (a concurrent replay) finds the mark afterwards (`redemption_revoked`)."""
    if trace.get("jti") and trace.get("exp"):
        await revoke_jti(services, str(trace["jti"]), int(trace["exp"]))
    if trace.get("family"):
        family = str(trace["family"])
        await services.store.put(f"revoked-family:{family}", "1", CODE_USED_MIN_SECONDS)
        await revoke_families(services, [family])


async def redemption_revoked(services: Services, code: StoredCode, family: str) -> bool:
    """Before a redemption that began refresh family `family` sends its tokens: was the family
    revoked by a concurrent replay of the code, or the sign-in behind the code by a revocation
    of its person (idp/sso/revocation.py)? Asked after the family's row was written, so that a
    replay or a revocation that comes later reaches the row. One round trip for both. (Without
    a refresh token nothing needs asking: the access token carries the code's `auth_time`,
    which the mark covers wherever the token is used.)"""
    revoked, mark = await services.store.get_many(f"revoked-family:{family}",
                                                   mark_key(code.subject))
    return revoked is not None or covered_by_mark(code.auth_time or code.issued_at, mark)


async def revoke_jti(services: Services, jti: str, exp: int) -> None:
    remaining = int(exp - time.time())
    if remaining > 0:
        await services.revoked.put(f"revoked-jti:{jti}", "1", remaining + 60)


async def access_token_revoked(services: Services, claims: dict[str, Any]) -> bool:
    """A verified access token's claims: is it on the revoked-jti list (RFC 7009, a replayed
    code, a revoked family), or did it come from a sign-in of a person revoked since (the
    sign-in core's mark, against `auth_time`)? Both read from this process's copy of the
    revoked list (idp/sso/revoked.py), or in one round trip when the copy cannot answer."""
    jti, subject = claims.get("jti"), claims.get("sub")
    if not isinstance(jti, str) or not isinstance(subject, str):
        return True
    if subject == claims.get("client_id"):  # a machine's token (client_credentials): no person
        return (await services.revoked.get_many(f"revoked-jti:{jti}"))[0] is not None
    listed, mark = await services.revoked.get_many(f"revoked-jti:{jti}", mark_key(subject))
    if listed is not None:
        return True
    signed_in = claims.get("auth_time", claims.get("iat"))
    return covered_by_mark(signed_in if isinstance(signed_in, int | float) else 0, mark)


# --- refresh token families (SQL) ----------------------------------------------------------

_tokens = RefreshToken.__table__
# what a newly issued refresh token is given (created_at: the same `now` as the rotation)
_NEW_COLUMNS = ("digest", "family_id", "client_id", "subject", "scope", "sid", "auth_time",
                "acr", "amr", "nonce", "expires_at")

_SELECT_ONE = select(_tokens).where(_tokens.c.digest == bindparam("digest"))

_REVOKE_FAMILIES = (
    update(_tokens)
    .where(_tokens.c.family_id.in_(bindparam("families", expanding=True)),
           _tokens.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
    .returning(_tokens.c.digest, _tokens.c.created_at, _tokens.c.rotated_at)
)

_REVOKE_SUBJECT = (
    update(_tokens)
    .where(_tokens.c.subject == bindparam("person"), _tokens.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
    .returning(_tokens.c.rotated_at)
)

# the old token is rotated only while still usable: of two concurrent rotations, the second
# finds rotated_at set (SQLite lets one writer at a time) and changes nothing
_MARK_ROTATED = (
    update(_tokens)
    .where(_tokens.c.digest == bindparam("rotated"), _tokens.c.rotated_at.is_(None),
           _tokens.c.revoked_at.is_(None))
    .values(rotated_at=bindparam("now"))
)

_INSERT_NEW = insert(_tokens).values(
    {name: bindparam(f"new_{name}", type_=_tokens.c[name].type)
     for name in (*_NEW_COLUMNS, "created_at")})


@dataclass(frozen=True)
class Claim:
    """A refresh token claimed by a refresh_token grant (`claim_refresh`): rotated, with its
    successor already inserted, before the grant was decided."""

    digest: str
    successor: str
    at: datetime


_CLAIM = (
    update(_tokens)
    .where(_tokens.c.digest == bindparam("claimed"), _tokens.c.client_id == bindparam("client"),
           _tokens.c.rotated_at.is_(None), _tokens.c.revoked_at.is_(None))
    .values(rotated_at=bindparam("now"))
)
_UNCLAIM = (
    update(_tokens)
    .where(_tokens.c.digest == bindparam("claimed"), _tokens.c.rotated_at == bindparam("at"))
    .values(rotated_at=None)
)
_DELETE_ONE = delete(_tokens).where(_tokens.c.digest == bindparam("digest"))


async def claim_refresh(services: Services, digest: str, client_id: str,
                        successor: str) -> tuple[RefreshRecord, Claim] | None:
    """The refresh_token grant's first step, in one statement on PostgreSQL: refresh token
    `digest`, if it is `client_id`'s and still usable, is marked rotated and its successor
    `successor` (a digest) inserted as its copy (RFC 6749 §6: same scope, family and absolute
    expiry). Answers the row as it was and the claim; None when nothing was claimed (unknown,
    another client's, rotated or revoked: `refresh_row` tells which). The grant then decides;
    one that refuses, or fails, gives the claim back (`release_claim`), so a refusal costs the
    client nothing. Of two concurrent claims one wins: the other is the reuse."""
    now = datetime.now(UTC)
    direct = pg_direct(services.engine)
    if direct is not None:
        found = await direct.claim_refresh(digest, successor, client_id, now)
        row = RefreshRecord(**found) if found is not None else None
    else:
        row = await _claim_core(services, digest, client_id, successor, now)
    return (row, Claim(digest, successor, now)) if row is not None else None


async def _claim_core(services: Services, digest: str, client_id: str, successor: str,
                      now: datetime) -> RefreshRecord | None:
    async with services.engine.begin() as conn:
        found = (await conn.execute(_SELECT_ONE, {"digest": digest})).first()
        if found is None:
            return None
        claimed = await conn.execute(_CLAIM, {"claimed": digest, "client": client_id, "now": now})
        if claimed.rowcount != 1:
            return None
        row = RefreshRecord(**found._mapping)
        copy = replace(row, digest=successor, nonce=None)
        await conn.execute(_INSERT_NEW, _new_row(copy, now))
    return row


async def release_claim(services: Services, claim: Claim) -> None:
    """Give a claim back: its successor, never sent, goes, and the token is usable again
    (unless a revocation reached it meanwhile: that stays)."""
    direct = pg_direct(services.engine)
    if direct is not None:
        await direct.release_claim(claim.digest, claim.successor, claim.at)
        return
    async with services.engine.begin() as conn:
        await conn.execute(_DELETE_ONE, {"digest": claim.successor})
        await conn.execute(_UNCLAIM, {"claimed": claim.digest, "at": claim.at})


async def refresh_row(services: Services, digest: str) -> RefreshRecord | None:
    direct = pg_direct(services.engine)
    if direct is not None:
        found = await direct.refresh_row(digest)
        return RefreshRecord(**found) if found is not None else None
    engine = one_statement_engine(services.engine)
    async with engine.connect() as conn:
        row = (await conn.execute(_SELECT_ONE, {"digest": digest})).first()
    return RefreshRecord(**row._mapping) if row is not None else None


async def revoke_families(services: Services, families: list[str]) -> int:
    """Revoke every token of these families, and the access tokens issued with them that may
    still be live (RFC 7009 §2.1: tokens based on the same grant); how many of the refresh
    tokens still worked (a family's rotated rows, one per refresh made, are revoked too: their
    access tokens may still be live; they are not counted)."""
    if not families:
        return 0
    params = {"families": list(families), "now": datetime.now(UTC)}
    revoked: list[Any] = []
    for _ in _TWICE:
        async with one_statement_engine(services.engine).begin() as conn:
            revoked += (await conn.execute(_REVOKE_FAMILIES, params)).all()
    lifetime = timedelta(seconds=services.settings.tokens.access_token_ttl)
    for digest, created_at, _ in revoked:
        created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        await revoke_jti(services, access_jti(digest), int((created + lifetime).timestamp()))
    return sum(1 for _, _, rotated_at in revoked if rotated_at is None)


_LIVE_FAMILIES_OF = (
    select(_tokens.c.family_id).distinct()
    .where(_tokens.c.subject == bindparam("person"), _tokens.c.client_id == bindparam("client"),
           _tokens.c.revoked_at.is_(None))
)


async def revoke_app_grants(services: Services, subject: str, client_id: str) -> int:
    """A person withdrew their consent to an app (/account): every refresh-token family the app
    holds for them, with the access tokens issued alongside; how many refresh tokens still
    worked."""
    async with one_statement_engine(services.engine).connect() as conn:
        families = list((await conn.execute(_LIVE_FAMILIES_OF, {
            "person": subject, "client": client_id})).scalars())
    return await revoke_families(services, families)


async def revoke_subject(services: Services, subject: str) -> int:
    """Revoke every refresh token of a person; how many still worked (not rotated: a
    family's rotated rows are revoked too, not counted)."""
    count = 0
    for _ in _TWICE:
        async with one_statement_engine(services.engine).begin() as conn:
            result = await conn.execute(_REVOKE_SUBJECT, {"person": subject,
                                                          "now": datetime.now(UTC)})
            count += sum(1 for (rotated_at,) in result if rotated_at is None)
    return count


# Why each revoking UPDATE runs twice: on PostgreSQL (READ COMMITTED) a rotation that commits
# while the first UPDATE runs has inserted its new row after that statement's snapshot, so the
# first cannot see it; but it waited for the rotation's lock on the old row, so the rotation has
# committed before the second starts, and the second's new snapshot sees the new row. (A
# rotation that comes after the first UPDATE finds the old row revoked and inserts nothing.)
_TWICE = (1, 2)


class OidcGrants:
    """OIDC's part of revoking everything of a person (idp/sso/revocation.py): refresh tokens
    here; access tokens are checked against the sign-in core's mark."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def mark_seconds(self) -> int:
        # an access token from a code redeemed at the end of its life lives this long after it
        tokens = self.services.settings.tokens
        return tokens.code_ttl + tokens.access_token_ttl

    async def revoke_person(self, subject: str) -> int:
        return await revoke_subject(self.services, subject)


def _new_row(new: RefreshRecord, now: datetime) -> dict[str, Any]:
    values = {f"new_{name}": getattr(new, name) for name in _NEW_COLUMNS}
    values["new_created_at"] = now
    return values


async def store_refresh(services: Services, new: RefreshRecord,
                        rotated: str | None) -> bool:
    """Insert the new refresh token; when it replaces `rotated`, mark that one rotated in the
    same transaction, but only if nobody else did first (conditional UPDATE). False means a
    concurrent request won the rotation: the caller must treat this one as reuse."""
    now = datetime.now(UTC)
    direct = pg_direct(services.engine)
    if direct is not None:
        values = {name: getattr(new, name) for name in _NEW_COLUMNS}
        values["created_at"] = now
        if rotated is None:
            await direct.insert_refresh(values)
            return True
        return await direct.rotate_refresh(values, rotated, now)
    values = _new_row(new, now)
    engine = services.engine
    if rotated is None:
        async with engine.begin() as conn:
            await conn.execute(_INSERT_NEW, values)
        return True
    try:
        async with engine.begin() as conn:
            result = await conn.execute(_MARK_ROTATED, {"rotated": rotated, "now": now})
            if result.rowcount != 1:
                raise _RotationLost
            await conn.execute(_INSERT_NEW, values)
    except _RotationLost:
        return False
    return True


class _RotationLost(Exception):
    """Another request rotated the refresh token first (rolls the transaction back)."""
