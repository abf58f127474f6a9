"""What we issue: RFC 9068 JWT access tokens, opaque rotating refresh tokens, OIDC ID tokens.

Decisions, documented here because clients depend on them:

- Access token `aud` (RFC 9068 §3): the `resource` indicators (RFC 8707) the client asked for;
  without any, the default resource is our own UserInfo endpoint (`{issuer}/userinfo`). Tokens
  that carry `openid` always include the UserInfo audience, so the client can fetch claims.
- Refresh tokens (OIDC Core §11): issued only to clients registered for the refresh_token grant,
  and, for OpenID requests, only when `offline_access` was granted. Consent to offline_access is
  the consent page (or an admin marking the client skip_consent), which is the "other condition
  permitting offline access" §11 allows instead of prompt=consent. Plain OAuth requests (no
  `openid`) get one whenever the client has the grant. Every use rotates it; the family keeps the
  absolute expiry of its first token, so rotation never extends a grant.
- ID tokens carry the claims of the granted scopes too (see claims.py), plus `auth_time` always,
  `sid` (for back-channel logout), `at_hash`, and `acr`/`amr` when known.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oidc.core.util import create_half_hash

from directory.base import Person
from idp.mfa.policy import acr_for
from idp.protocols.oidc.claims import person_claims
from idp.protocols.oidc.context import OAuthContext, current
from idp.protocols.oidc.models import OAuthClient, RefreshRecord


def token_digest(value: str) -> str:
    """How codes and refresh tokens are stored: SHA-256, hex (fosite keeps digests only)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def access_jti(refresh_digest: str) -> str:
    """The id of the access token issued with a refresh token, derived one way from that
    token's digest: revoking a family names the access tokens its members came with (RFC 7009
    §2.1, RFC 9700 §4.14.2) from its rows alone, with nothing more stored."""
    return token_digest("access-token:" + refresh_digest)[:32]


def userinfo_audience(issuer: str) -> str:
    return f"{issuer}/userinfo"


def _auth_facts(ctx: OAuthContext) -> dict[str, Any]:
    """auth_time / acr / amr / sid of the login behind this grant (none for client_credentials)."""
    source: Any = ctx.code
    if source is None and ctx.refresh is not None:
        source = ctx.refresh.row
    if source is None:
        return {}
    # a login that recorded no acr is classed by its methods (RFC 8176 amr -> our acr values)
    facts = {"auth_time": source.auth_time, "acr": source.acr or acr_for(source.amr or ["pwd"]),
             "amr": source.amr or None, "sid": source.sid}
    return {key: value for key, value in facts.items() if value}


class TokenFactory:
    """authlib's token generator (`register_token_generator("default", ...)`): builds the token
    response dict and records the refresh token row it implies."""

    def __call__(
        self, grant_type: str, client: OAuthClient, user: Person | None = None,
        scope: str | None = None, expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        ctx = current()
        settings = ctx.services.settings
        scope = scope if scope is not None else ""
        scopes = scope.split()
        lifetime = expires_in or settings.tokens.access_token_ttl
        refresh = None
        if include_refresh_token and self.refresh_allowed(client, scopes, grant_type):
            refresh = self.refresh_token(ctx, client, user, scope)  # first: it names the jti
        access_token = self.access_token(ctx, client, user, scopes, lifetime)
        token: dict[str, Any] = {"token_type": "Bearer", "access_token": access_token,
                                 "expires_in": lifetime, "scope": scope}
        if refresh is not None:
            token["refresh_token"] = refresh
        return token

    @staticmethod
    def refresh_allowed(client: OAuthClient, scopes: list[str], grant_type: str) -> bool:
        if not client.check_grant_type("refresh_token") or grant_type == "client_credentials":
            return False
        if grant_type == "refresh_token":
            return True  # rotation: the grant was decided when the family began
        return "openid" not in scopes or "offline_access" in scopes

    def access_token(self, ctx: OAuthContext, client: OAuthClient, user: Person | None,
                     scopes: list[str], lifetime: int) -> str:
        settings = ctx.services.settings
        issuer = settings.issuer
        audiences = list(ctx.resource) or [userinfo_audience(issuer)]
        if "openid" in scopes and userinfo_audience(issuer) not in audiences:
            audiences.append(userinfo_audience(issuer))
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            # RFC 9068 §2.2: no resource owner (client_credentials) -> the client is the subject
            "sub": user.subject if user is not None else client.get_client_id(),
            "aud": audiences[0] if len(audiences) == 1 else audiences,
            "client_id": client.get_client_id(),
            "iat": now,
            "exp": now + lifetime,
            "jti": self.jti(ctx),
            "scope": " ".join(scopes),
        }
        if user is not None:
            claims.update(_auth_facts(ctx))
        return ctx.services.keys.sign(claims, alg=settings.tokens.signing_alg, typ="at+jwt")

    @staticmethod
    def jti(ctx: OAuthContext) -> str:
        """The access token's id: named after the refresh token issued with it (`access_jti`);
        a code's redemption named both before the code was taken (adapter.py)."""
        if ctx.new_refresh is not None:
            return access_jti(ctx.new_refresh.digest)
        return ctx.planned_jti or secrets.token_urlsafe(24)

    def refresh_token(self, ctx: OAuthContext, client: OAuthClient, user: Person | None,
                      scope: str) -> str:
        if user is None:
            raise InvalidScopeError("A refresh token needs a resource owner.")
        value = ctx.planned_refresh or secrets.token_urlsafe(32)
        previous = ctx.refresh.row if ctx.refresh is not None else None
        if previous is not None:
            # RFC 6749 §6: a rotated refresh token keeps the scope of the one it replaces
            family_id, scope, expires_at = previous.family_id, previous.scope, previous.expires_at
            facts = {"sid": previous.sid, "auth_time": previous.auth_time, "acr": previous.acr,
                     "amr": previous.amr or [], "nonce": None}
        else:
            ttl = ctx.services.settings.tokens.refresh_token_ttl
            family_id = ctx.planned_family or secrets.token_urlsafe(24)
            expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
            code = ctx.code
            facts = {"sid": code.sid if code else None,
                     "auth_time": code.auth_time if code else None,
                     "acr": code.acr if code else None, "amr": (code.amr if code else []) or [],
                     "nonce": code.nonce if code else None}
        ctx.new_refresh = RefreshRecord(
            digest=token_digest(value), family_id=family_id, client_id=client.get_client_id(),
            subject=user.subject, scope=scope, expires_at=expires_at, **facts,
        )
        return value


def encode_id_token(ctx: OAuthContext, client: OAuthClient, person: Person, token: dict[str, Any],
                    *, nonce: str | None) -> str:
    """An ID token (OIDC Core §2, §3.1.3.6) signed with the client's registered algorithm."""
    settings = ctx.services.settings
    alg = client.id_token_signed_response_alg
    now = int(time.time())
    scopes = str(token.get("scope", "")).split()
    claims: dict[str, Any] = person_claims(person, scopes)
    ctx.released(person.subject, client.get_client_id(), claims)  # before the protocol's claims
    claims.update({
        "iss": settings.issuer, "sub": person.subject, "aud": client.get_client_id(),
        "iat": now, "exp": now + settings.tokens.id_token_ttl,
    })
    facts = _auth_facts(ctx)
    claims.update(facts)
    claims.setdefault("auth_time", now)
    if nonce:
        claims["nonce"] = nonce
    if token.get("access_token"):
        half = create_half_hash(token["access_token"], alg)
        if half is not None:
            claims["at_hash"] = half.decode("ascii")
    return ctx.services.keys.sign(claims, alg=alg)
