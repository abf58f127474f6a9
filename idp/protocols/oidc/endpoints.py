"""Introspection (RFC 7662), revocation (RFC 7009) and UserInfo (OIDC Core §5.3) on authlib's
endpoint classes. Tokens were verified and looked up by the adapter; these read the context."""

from __future__ import annotations

import time
from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfoEndpoint

from directory.base import Person
from idp.protocols.oidc.claims import person_claims
from idp.protocols.oidc.context import current
from idp.protocols.oidc.grants import ALL_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from idp.protocols.oidc.models import AccessToken, OAuthClient, RefreshGrant

Token = AccessToken | RefreshGrant
# what an active introspection answer tells about the person: who they are (the rest is the
# token's own facts: scope, times, client)
INTROSPECTION_CLAIMS = ("sub",)


def _prefetched_token(token_type_hint: str | None) -> Token | None:
    # the hint is only a hint (RFC 7662 §2.1, RFC 7009 §2.1): both kinds were looked up
    ctx = current()
    return ctx.access_token or ctx.refresh


class Introspection(IntrospectionEndpoint):
    """RFC 7662. Confidential clients only. A token is reported active to the client it was
    issued to, or to a resource server named in its audience; to anyone else it is
    `{"active": false}`, as for unknown, expired and revoked tokens."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _prefetched_token(token_type_hint)

    def check_permission(self, token: Token, client: OAuthClient, request: Any) -> bool:
        if isinstance(token, AccessToken):
            allowed = token.check_client(client) or client.get_client_id() in token.audiences()
        else:
            allowed = token.check_client(client)
        if allowed:
            current().introspected_by = client.get_client_id()
        return allowed

    def introspect_token(self, token: Token) -> dict[str, Any]:
        ctx = current()
        issuer = ctx.services.settings.issuer
        if isinstance(token, AccessToken):
            claims = token.claims
            payload = {key: claims[key] for key in ("scope", "client_id", "sub", "aud", "exp",
                                                    "iat", "jti", "auth_time", "acr", "sid")
                       if key in claims}
            # a machine's token (client_credentials) has the client as its subject: no person
            if ctx.introspected_by and claims.get("sub") != claims.get("client_id"):
                ctx.released(str(claims.get("sub")), ctx.introspected_by, INTROSPECTION_CLAIMS)
            return {"active": True, "iss": issuer, "token_type": "Bearer", **payload}
        row = token.row
        if ctx.introspected_by:
            ctx.released(row.subject, ctx.introspected_by, INTROSPECTION_CLAIMS)
        return {"active": True, "iss": issuer, "token_type": "refresh_token", "scope": row.scope,
                "client_id": row.client_id, "sub": row.subject,
                "exp": int(time.time()) + token.get_expires_in()}


class Revocation(RevocationEndpoint):
    """RFC 7009. Public clients may revoke their own tokens (§2.1). Revoking a refresh token
    revokes its family; an access token goes on the revoked-jti list until it would expire.
    A token of another client is left alone and still answered with 200 (§2.2: no hint to the
    caller whether it exists)."""

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _prefetched_token(token_type_hint)

    def authenticate_token(self, request: Any, client: OAuthClient) -> Token | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is None or not token.check_client(client):
            return None
        return token

    def revoke_token(self, token: Token, request: Any) -> None:
        ctx = current()
        if isinstance(token, RefreshGrant):
            ctx.revoke_families.append(token.row.family_id)
            return
        remaining = token.get_expires_in()
        if remaining > 0 and token.jti:
            revoked, key = ctx.services.revoked, f"revoked-jti:{token.jti}"
            ctx.later(lambda: revoked.put(key, "1", remaining + 60))
        ctx.note("revoked", actor=token.get_user(), client_id=token.claims.get("client_id"),
                 jti=token.jti)


class MissingBearerToken(OAuth2Error):
    """RFC 6750 §3.1: a request without any token gets the challenge but no error code."""

    error = "invalid_request"
    description = "An access token is required."
    status_code = 401

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("WWW-Authenticate", 'Bearer realm="userinfo"')]


class PrefetchedBearer(BearerTokenValidator):
    """RFC 6750 bearer validation of the token the adapter verified (signature, issuer, typ,
    audience) and checked against the revoked-jti list."""

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        return current().access_token

    def validate_token(self, token: AccessToken | None, scopes: Any, request: Any) -> None:
        super().validate_token(token, scopes, request)
        person = current().person
        if person is None or person.disabled or person.subject != token.get_user():
            raise InvalidTokenError("The person behind this token is no longer active.",
                                    realm=self.realm)


class BearerProtector(ResourceProtector):
    """authlib's ResourceProtector, reading the prefetched token instead of a framework request
    (the adapter took it from the Authorization header or the form body, RFC 6750 §2.1-2.2)."""

    def __init__(self) -> None:
        super().__init__()
        self.validator = PrefetchedBearer(realm="userinfo")
        self.register_token_validator(self.validator)

    def acquire_token(self, scopes: str | list[str] | None = None) -> AccessToken:
        ctx = current()
        if not ctx.bearer_present:
            raise MissingBearerToken()
        required = [scopes] if isinstance(scopes, str) else scopes
        token = self.validator.authenticate_token("")
        self.validator.validate_token(token, required, None)
        assert token is not None  # validate_token raised otherwise
        return token


class UserInfo(UserInfoEndpoint):
    """OIDC Core §5.3: the claims of the token's scopes, for the person as the directory knows
    them now (a person gone or disabled makes the token invalid)."""

    def __call__(self, request: Any) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # authlib's version also signs responses for clients that registered
        # userinfo_signed_response_alg; we offer plain JSON only (discovery says so)
        token = self.resource_protector.acquire_token("openid")
        person = current().person
        assert person is not None  # the validator raised otherwise
        return 200, self.generate_user_info(person, token.get_scope()), default_json_headers

    def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
        ctx = current()
        claims = person_claims(user, scope.split())
        token = ctx.access_token
        if token is not None and token.claims.get("client_id"):
            ctx.released(user.subject, str(token.claims["client_id"]), claims)
        return claims

    def get_issuer(self) -> str:
        return current().services.settings.issuer


def userinfo_endpoint() -> UserInfo:
    return UserInfo(resource_protector=BearerProtector())
