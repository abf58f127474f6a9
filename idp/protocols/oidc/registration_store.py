"""Storage of registered clients, initial access tokens and registration access tokens.

Tokens and secrets are random and high-entropy: only SHA-256 digests are kept, compared in
constant time (DESIGN.md). Every change to a client row invalidates the engine's client cache
(`invalidate_client`), so this process sees it at once and other replicas within seconds.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.admin_models import InitialAccessToken
from idp.db.models import Client, Consent, RefreshToken
from idp.protocols.oidc.clients import hash_secret, verify_secret
from idp.protocols.oidc.registration_metadata import BASIC_SCOPES, ClientMetadata, MetadataError
from idp.sso.apps import invalidate_client, new_app_id

INITIAL_TOKEN_DEFAULT_TTL = timedelta(days=7)
INITIAL_TOKEN_MAX_TTL = timedelta(days=366)
# after a secret rotation the old secret keeps working this long (until the lead adds a setting)
MAX_TOKEN_LENGTH = 512


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _now() -> datetime:
    return datetime.now(UTC)


# --- initial access tokens (RFC 7591 §3) -------------------------------------------------------


async def issue_initial_access_token(
    db: async_sessionmaker, *, ttl: timedelta = INITIAL_TOKEN_DEFAULT_TTL,
    issued_by: str | None = None,
) -> tuple[str, datetime]:
    """A new initial access token and when it expires. The token is returned once; only its
    digest is stored."""
    if ttl <= timedelta(0) or ttl > INITIAL_TOKEN_MAX_TTL:
        raise ValueError(f"an initial access token lives between 1 second and "
                         f"{INITIAL_TOKEN_MAX_TTL.days} days")
    token = new_token()
    expires_at = (_now() + ttl).replace(microsecond=0)
    async with db() as session, session.begin():
        session.add(InitialAccessToken(digest=hash_secret(token), issued_by=issued_by,
                                       expires_at=expires_at, uses=0))
    return token, expires_at


async def redeem_initial_access_token(db: async_sessionmaker,
                                      token: str | None) -> InitialAccessToken | None:
    """The token's row when it is known, unexpired and not revoked (its use is counted);
    None otherwise. Tokens may be used more than once until they expire."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_secret(token)
    async with db() as session, session.begin():
        row = await session.get(InitialAccessToken, digest)
        if row is None or not hmac.compare_digest(row.digest, digest):
            return None
        if row.revoked_at is not None or row.expires_at <= _now():
            return None
        row.uses += 1
    return row


# --- registered clients ------------------------------------------------------------------------


@dataclass
class Registered:
    """A client just created: its row and the credentials shown once."""

    client: Client
    secret: str | None
    registration_token: str | None


def _apply(client: Client, metadata: ClientMetadata, *, extra: dict[str, Any]) -> None:
    client.name = metadata.client_name or client.name or client.client_id
    client.redirect_uris = metadata.redirect_uris
    client.post_logout_redirect_uris = metadata.post_logout_redirect_uris
    client.backchannel_logout_uri = metadata.backchannel_logout_uri
    client.backchannel_logout_session_required = metadata.backchannel_logout_session_required
    client.grant_types = metadata.grant_types
    client.response_types = metadata.response_types
    client.scopes = metadata.scopes
    client.token_endpoint_auth_method = metadata.token_endpoint_auth_method
    client.id_token_signed_response_alg = metadata.id_token_signed_response_alg
    client.jwks = metadata.jwks
    client.jwks_uri = metadata.jwks_uri
    client.extra = extra


def approved_scopes(client: Client) -> set[str]:
    """Scopes an admin has accepted for this client: the basic ones, the ones it held while
    active (an admin approved them), and any recorded at an earlier approval."""
    approved = set(BASIC_SCOPES) | set((client.extra or {}).get("approved_scopes") or [])
    if client.status == "active":
        approved |= set(client.scopes or [])
    return approved


def _status_and_approval(client: Client | None, scopes: list[str]) -> tuple[str, list[str]]:
    """(status, approved non-basic scopes) after asking for `scopes`. A disabled client stays
    disabled; asking for a scope nobody approved (re)enters the pending state."""
    approved = approved_scopes(client) if client is not None else set(BASIC_SCOPES)
    kept = sorted(approved - set(BASIC_SCOPES))
    if client is not None and client.status == "disabled":
        return "disabled", kept
    return ("active" if set(scopes) <= approved else "pending"), kept


# what a client's metadata does not carry and a new metadata document must not erase: how it was
# registered, and what admins (or the portal) set beside it: its access rule and a request for a
# wider one, its second-factor switch, its line in the app portal
KEPT = ("registered_via", "initial_access_token", "owner_username", "access", "access_request",
        "require_mfa", "description")


async def create_registered_client(
    db: async_sessionmaker, metadata: ClientMetadata, *, owner: str | None, via: str,
    scope_reasons: dict[str, str] | None = None, registration_token: bool = True,
    origin: dict[str, Any] | None = None,
) -> Registered:
    """Create a client from checked metadata. Scopes beyond the basic set make it pending."""
    secret = new_token() if metadata.has_secret else None
    token = new_token() if registration_token else None
    status, kept = _status_and_approval(None, metadata.scopes)
    client = Client(client_id=new_app_id(), name="", owner=owner, status=status,
                    skip_consent=False, secret_digest=hash_secret(secret) if secret else None,
                    registration_token_digest=hash_secret(token) if token else None)
    extra = {**metadata.extra(), "registered_via": via, "approved_scopes": kept,
             "scope_reasons": dict(scope_reasons or {}), **(origin or {})}
    _apply(client, metadata, extra=extra)
    client.created_at = _now()
    async with db() as session, session.begin():
        session.add(client)
    return Registered(client, secret, token)


async def update_registered_client(
    db: async_sessionmaker, client_id: str, metadata: ClientMetadata, *,
    scope_reasons: dict[str, str] | None = None,
) -> Client:
    """Replace a client's metadata (RFC 7592 §2.2). The auth method may not move between
    secret and no secret: a secret cannot be recovered from its digest nor invented silently."""
    async with db() as session, session.begin():
        client = await session.get(Client, client_id, with_for_update=True)
        if client is None:
            raise LookupError(client_id)
        had_secret = client.secret_digest is not None
        if had_secret != metadata.has_secret or (
                not had_secret and metadata.token_endpoint_auth_method
                != client.token_endpoint_auth_method):
            raise MetadataError("invalid_client_metadata",
                                "token_endpoint_auth_method cannot change between "
                                f"{client.token_endpoint_auth_method!r} and "
                                f"{metadata.token_endpoint_auth_method!r}; register a new client")
        status, kept = _status_and_approval(client, metadata.scopes)
        reasons = dict((client.extra or {}).get("scope_reasons") or {})
        reasons.update(scope_reasons or {})
        # what the metadata does not describe stays (KEPT): where the app came from, and what
        # an admin decided about it -- a developer's PUT or portal edit must not lift an
        # admin's access rule
        keep = {key: value for key, value in (client.extra or {}).items() if key in KEPT}
        extra = {**metadata.extra(), **keep, "approved_scopes": kept,
                 "scope_reasons": {s: r for s, r in reasons.items() if s in metadata.scopes}}
        _apply(client, metadata, extra=extra)
        client.status = status
    invalidate_client(db, client_id)
    return client


async def delete_registered_client(db: async_sessionmaker, client_id: str) -> int:
    """Delete the client, its consents, and revoke its refresh tokens (RFC 7592 §2.3).
    Returns how many refresh tokens were revoked. Access tokens are short-lived JWTs: they
    expire on their own (introspection reports them inactive once the client is gone)."""
    async with db() as session, session.begin():
        revoked = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.client_id == client_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        await session.execute(delete(Consent).where(Consent.client_id == client_id))
        await session.execute(delete(Client).where(Client.client_id == client_id))
    invalidate_client(db, client_id)
    return int(revoked.rowcount or 0)


async def client_by_registration_token(db: async_sessionmaker, client_id: str,
                                       token: str | None) -> Client | None:
    """The client when `token` is its registration access token (RFC 7592 §3); a wrong
    token and an unknown client look the same to the caller."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not client_id or len(client_id) > 64:
        return None
    async with db() as session:
        client = await session.get(Client, client_id)
    stored = client.registration_token_digest if client is not None else None
    # compared even when there is no client, so both cases take the same time
    if not hmac.compare_digest(hash_secret(token), stored or "0" * 64) or client is None:
        return None
    return client


def secret_matches(client: Client, secret: object) -> bool:
    return isinstance(secret, str) and verify_secret(client, secret)


async def rotate_secret(db: async_sessionmaker, client_id: str, *,
                        grace: timedelta) -> str:
    """A new secret, shown once; the current one keeps working for `grace`."""
    secret = new_token()
    async with db() as session, session.begin():
        client = await session.get(Client, client_id, with_for_update=True)
        if client is None:
            raise LookupError(client_id)
        if client.secret_digest is None:
            raise ValueError("this client has no secret (it is a public or private_key_jwt "
                             "client)")
        client.previous_secret_digest = client.secret_digest
        client.previous_secret_expires = _now() + grace
        client.secret_digest = hash_secret(secret)
    invalidate_client(db, client_id)
    return secret


async def clients_of_owner(db: async_sessionmaker, owner: str) -> list[Client]:
    async with db() as session:
        result = await session.execute(
            select(Client).where(Client.owner == owner).order_by(Client.created_at))
        return list(result.scalars())
