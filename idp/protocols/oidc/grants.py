"""authlib grants and extensions, filled in with our storage via the prefetched OAuthContext.

Every method here is synchronous (authlib calls it): reads come from the context the adapter
prefetched, writes are recorded on it and awaited by the adapter afterwards.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from authlib.oidc.core.grants.util import is_openid_scope
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from directory.base import Person
from idp.protocols.oidc import ledger, person_scopes
from idp.protocols.oidc.claims import SUPPORTED_SCOPES, check_claims_param
from idp.protocols.oidc.context import current
from idp.protocols.oidc.models import OAuthClient, RefreshGrant, StoredCode
from idp.protocols.oidc.tokens import encode_id_token, token_digest
from idp.sso.access import AccessRule

ALL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
ASSERTION_ALGS = ["RS256", "ES256"]
PROMPTS = {"none", "login", "consent", "select_account"}


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: a resource indicator that is not an absolute URI without fragment."""

    error = "invalid_target"


def _active_person(person: Person | None, subject: str) -> Person:
    if person is None or person.disabled or person.subject != subject:
        raise InvalidGrantError("The person behind this grant is no longer active.")
    return person


def check_resource(values: list[str]) -> list[str]:
    for value in values:
        parts = urlsplit(value)
        if not parts.scheme or not parts.netloc or parts.fragment or "#" in value:
            raise InvalidTargetError("resource must be an absolute URI without a fragment.")
    return values


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1. Codes live in the Store under their SHA-256 digest and their client
    (ledger.code_key), and are taken atomically by the adapter, once it has authenticated the
    client, before authlib runs: a code can be redeemed once only, and only by its client."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        ctx = current()
        session = ctx.session
        person: Person = request.user
        scope = request.scope or ""
        if ctx.granted_scopes is not None:
            scope = " ".join(s for s in scope.split() if s in ctx.granted_scopes)
        scope = person_scopes.for_person(scope, person, ctx.services.settings)
        data = request.payload.data
        stored = StoredCode(
            client_id=request.client.get_client_id(), subject=person.subject,
            redirect_uri=request.payload.redirect_uri, scope=scope,
            issued_at=int(time.time()), nonce=data.get("nonce"),
            auth_time=session.auth_time if session else None,
            acr=session.acr if session else None, amr=list(session.amr) if session else [],
            sid=session.sid if session else None,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            claims=data.get("claims"), resource=list(ctx.resource),
        )
        challenge = stored.code_challenge if request.client.is_public else None
        key = ledger.code_key(token_digest(code), stored.client_id, challenge)
        ctx.store_puts.append((key, stored.to_json(), ctx.services.settings.tokens.code_ttl))

    def generate_authorization_code(self) -> str:
        # 256 bits from one read of the system's generator: authlib draws each of its 48
        # characters with a call of its own (a getrandom(2) apiece)
        return secrets.token_urlsafe(32)

    def query_authorization_code(self, code: str, client: OAuthClient) -> StoredCode | None:
        ctx = current()
        if client.is_public and not self.request.form.get("code_verifier"):
            # the adapter did not even look: a public client's code is found by its verifier
            raise InvalidRequestError("Missing 'code_verifier'")
        stored = ctx.code
        if stored is None or ctx.code_digest != token_digest(code):
            return None
        if stored.client_id != client.get_client_id():
            return None
        ctx.resource = list(stored.resource)
        return stored

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Nothing to do: the adapter authenticated the client, then took the code out of the
        Store, before authlib ran."""

    def authenticate_user(self, authorization_code: StoredCode) -> Person:
        return _active_person(current().person, authorization_code.subject)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 §6 with rotation on every use (OAuth 2.1 §4.3.1); a rotated token presented
    again revokes its whole family (RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshGrant | None:
        ctx = current()
        grant = ctx.refresh
        if grant is None or grant.row.digest != token_digest(refresh_token):
            return None
        if not grant.check_client(self.request.client):
            return None  # another client's token: it may not use it, nor revoke its family
        if grant.is_rotated() and grant.row.revoked_at is None:
            ctx.revoke_families.append(grant.row.family_id)
            ctx.note("refresh_reuse", actor=grant.row.subject, client_id=grant.row.client_id,
                     family=grant.row.family_id)
            return None
        if grant.is_revoked() or grant.is_expired():
            return None
        return grant

    def issue_token(self, user: Person, refresh_token: RefreshGrant) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        # the client may have lost a scope since the grant: never issue more than it may have
        scope = self.request.client.get_allowed_scope(scope)
        scope = person_scopes.for_person(scope, user, current().services.settings)
        return self.generate_token(user=user, scope=scope, include_refresh_token=True)

    def authenticate_user(self, refresh_token: RefreshGrant) -> Person:
        person = _active_person(current().person, refresh_token.row.subject)
        client = self.request.client
        if not AccessRule.of(client.row.extra).allows(person):
            # removed from the app's groups since: no more tokens (idp/sso/access.py)
            current().note("access_denied", actor=person.username, client_id=client.client_id,
                           grant="refresh_token")
            raise InvalidGrantError("This person may no longer use this app.")
        return person

    def revoke_old_credential(self, refresh_token: RefreshGrant) -> None:
        # the adapter rotates it with a conditional UPDATE: if a concurrent request rotated it
        # first, this one loses and is treated as reuse
        current().rotated_digest = refresh_token.row.digest


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4. No resource owner, hence no ID token, no refresh token and none of the
    person-related scopes; the scope is limited to the client's registered API scopes."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def _machine_scopes(self) -> list[str]:
        return [s for s in self.request.client.row.scopes or []
                if s not in SUPPORTED_SCOPES and s not in person_scopes.PERSON_ONLY_SCOPES]

    def validate_requested_scope(self) -> None:
        requested = scope_to_list(self.request.payload.scope) or []
        if not set(requested) <= set(self._machine_scopes()):
            raise InvalidScopeError("The client may not request these scopes with "
                                    "client_credentials.")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        requested = self.request.payload.scope
        scope = requested if requested else " ".join(self._machine_scopes())
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class S256CodeChallenge(CodeChallenge):
    """RFC 7636 with S256 only: `plain` (also the default when no method is sent) is refused,
    and public clients must send a challenge (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 (plain is refused).")
        if grant.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE (code_challenge, S256).")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationRequestChecks:
    """OIDC Core §3.1.2.1 / §6 parameter checks, run once the redirect URI is trusted, so their
    errors go back to the client: request objects are unsupported, prompt/max_age/claims must
    be well formed, resource indicators absolute (RFC 8707)."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.check)

    def check(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if "request" in data:
            raise RequestNotSupportedError("Request objects are not supported.")
        if "request_uri" in data:
            raise RequestURINotSupportedError("request_uri is not supported.")
        prompts = (data.get("prompt") or "").split()
        if "none" in prompts and len(prompts) > 1:
            raise InvalidRequestError("prompt=none cannot be combined with other values.")
        if set(prompts) - PROMPTS:
            raise InvalidRequestError("Unknown prompt value.")
        max_age = data.get("max_age")
        if max_age is not None and (not max_age.isdigit() or len(max_age) > 10):
            raise InvalidRequestError("max_age must be a non-negative integer.")
        if data.get("claims") and (problem := check_claims_param(data["claims"])):
            raise InvalidRequestError(problem)
        if is_openid_scope(grant.request.payload.scope) and not grant.request.payload.redirect_uri:
            raise InvalidRequestError("redirect_uri is required (OIDC Core 3.1.2.1).")
        resources = grant.request.payload.datalist.get("resource", [])
        current().resource = check_resource(list(resources))


class OpenIDConnectCode(OpenIDCode):
    """OIDC Core §3.1: an ID token with the code grant's tokens, signed by the KeyRing with the
    client's registered algorithm. Nonces are the client's replay check (codes are single-use
    here), so no server-side nonce store."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        code: StoredCode = request.authorization_code
        return encode_id_token(current(), request.client, request.user, token, nonce=code.nonce)


class OpenIDRefresh:
    """OIDC Core §12.2: a refreshed openid grant gets a fresh ID token (same sub, auth_time)."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if is_openid_scope(token.get("scope")):
            request = grant.request
            token["id_token"] = encode_id_token(current(), request.client, request.user, token,
                                                nonce=None)
        return token


class PrivateKeyJwt(JWTBearerClientAssertion):
    """`private_key_jwt` client authentication (OIDC Core §9, RFC 7523 §2.2) against the JWKS
    registered on the client. The jti replay guard was reserved in the Store (add()) by the
    adapter; here we only read the answer."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=60)

    def get_audiences(self) -> list[str]:
        issuer = current().services.settings.issuer
        return [issuer, f"{issuer}/token", f"{issuer}/introspect", f"{issuer}/revoke",
                f"{issuer}/device_authorization"]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        # only the algorithms discovery lists (never none, never HMAC with a public key)
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGS)
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        return current().assertion_jti_fresh

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        return KeySet.import_key_set(client.row.jwks or {"keys": []})


def unverified_assertion(assertion: str) -> dict[str, Any] | None:
    """The claims of a client assertion before its signature is checked: only to know which
    client to fetch and which jti to reserve."""
    parts = assertion.split(".")
    if len(parts) != 3 or len(assertion) > 8192:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None
