"""Relying parties: registration, lookup (briefly cached), and secret checks.

Client secrets are random and high-entropy, so a SHA-256 digest compared in constant time is as
strong as a slow hash and costs nothing on the token path (fosite keeps digests the same way).
After a rotation the previous secret keeps working until `previous_secret_expires`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import Client
from idp.sso.apps import new_app_id

DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
DEFAULT_SCOPES = ("openid", "profile", "email", "phone", "offline_access", "campus", "groups",
                  "eduperson")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials",
               "urn:ietf:params:oauth:grant-type:device_code")
ID_TOKEN_ALGS = ("RS256", "ES256")
CLIENT_STATUSES = ("active", "pending", "disabled")


def hash_secret(secret: str) -> str:
    """The stored form of a client secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def verify_secret(client: Client, secret: str, now: datetime | None = None) -> bool:
    """Constant-time comparison against the current secret, and against the previous one while
    it is still inside its grace period."""
    if not secret or len(secret) > 512:
        return False
    digest = hash_secret(secret)
    ok = bool(client.secret_digest) and hmac.compare_digest(digest, client.secret_digest or "")
    previous = client.previous_secret_digest
    expires = client.previous_secret_expires
    if previous and expires is not None:
        now = now or datetime.now(UTC)
        if expires.tzinfo is None:  # SQLite hands back naive datetimes
            expires = expires.replace(tzinfo=UTC)
        if now < expires and hmac.compare_digest(digest, previous):
            ok = True
    return ok


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_redirect_uri(uri: str, *, what: str = "redirect URI") -> str:
    """Absolute, no fragment, https (or http on a loopback host, RFC 8252 §7.3).
    Raises ValueError naming the URI and the rule it breaks."""
    if not isinstance(uri, str) or not uri or uri != uri.strip():
        raise ValueError(f"{what} {uri!r} must be a non-empty URL without surrounding spaces")
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ValueError(f"{what} {uri!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"{what} {uri!r} must use https (got scheme {parts.scheme or 'none'!r})")
    if not host:
        raise ValueError(f"{what} {uri!r} must be absolute (with a host)")
    if parts.fragment or "#" in uri:
        raise ValueError(f"{what} {uri!r} must not contain a fragment (RFC 6749 §3.1.2)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(f"{what} {uri!r} must use https (http only for localhost/127.0.0.1/[::1])")
    return uri


def _check_choice(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    for value in values:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r} (allowed: {', '.join(allowed)})")
    return values


async def create_client(
    db: async_sessionmaker, *, name: str, redirect_uris: list[str] | tuple[str, ...],
    public: bool = False, grant_types: list[str] | None = None, scopes: list[str] | None = None,
    post_logout_redirect_uris: list[str] | tuple[str, ...] = (),
    backchannel_logout_uri: str | None = None, skip_consent: bool = False,
    token_endpoint_auth_method: str | None = None,
    id_token_signed_response_alg: str = "RS256",  # noqa: S107 - an algorithm name
    jwks: dict[str, Any] | None = None, status: str = "active", owner: str | None = None,
) -> tuple[Client, str | None]:
    """Register a client. Returns it and its secret, shown once (None for public clients and
    private_key_jwt clients). Raises ValueError with a readable message for bad metadata."""
    if not name or not name.strip():
        raise ValueError("a client needs a name")
    grants = _check_choice(list(grant_types or DEFAULT_GRANT_TYPES), GRANT_TYPES, "grant type")
    method = token_endpoint_auth_method or ("none" if public else "client_secret_basic")
    _check_choice([method], AUTH_METHODS, "token endpoint auth method")
    if public and method != "none":
        raise ValueError("a public client authenticates with 'none' (and PKCE)")
    if method == "none" and "client_credentials" in grants:
        raise ValueError("client_credentials needs a confidential client (RFC 6749 §4.4)")
    if method == "private_key_jwt":
        if not jwks or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
            raise ValueError("private_key_jwt needs the client's public JWKS ({'keys': [...]})")
        _check_public_jwks(jwks)
    _check_choice([id_token_signed_response_alg], ID_TOKEN_ALGS, "ID token signing alg")
    _check_choice([status], CLIENT_STATUSES, "status")
    uris = [validate_redirect_uri(uri) for uri in redirect_uris]
    if "authorization_code" in grants and not uris:
        raise ValueError("the authorization_code grant needs at least one redirect URI")
    logout_uris = [validate_redirect_uri(uri, what="post-logout redirect URI")
                   for uri in post_logout_redirect_uris]
    if backchannel_logout_uri:
        validate_redirect_uri(backchannel_logout_uri, what="back-channel logout URI")
    secret = secrets.token_urlsafe(32) if method in ("client_secret_basic",
                                                     "client_secret_post") else None
    client = Client(
        client_id=new_app_id(), name=name.strip(),
        secret_digest=hash_secret(secret) if secret else None,
        redirect_uris=uris, post_logout_redirect_uris=logout_uris,
        backchannel_logout_uri=backchannel_logout_uri, grant_types=grants,
        response_types=["code"] if "authorization_code" in grants else [],
        scopes=list(scopes if scopes is not None else DEFAULT_SCOPES),
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=id_token_signed_response_alg, jwks=jwks,
        skip_consent=skip_consent, status=status, owner=owner, extra={},
    )
    async with db() as session, session.begin():
        session.add(client)
    return client, secret


def _check_public_jwks(jwks: dict[str, Any]) -> None:
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        keyset = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the client JWKS cannot be read: {exc}") from None
    for key in keyset.keys:
        if key.is_private:
            raise ValueError("the client JWKS must hold public keys only")
