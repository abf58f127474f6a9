"""authlib's model mixins over our storage: a client, a stored authorization code, a refresh
token record and a verified JWT access token. authlib reads these synchronously; the adapter has
already fetched every one of them before authlib runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin

from idp.db.models import Client
from idp.protocols.oidc.clients import verify_secret
from idp.store.records import record_json


class OAuthClient(ClientMixin):
    """A registered client as authlib sees it (RFC 6749 §2, RFC 7591 metadata)."""

    def __init__(self, row: Client) -> None:
        self.row = row
        self.client_id = row.client_id
        self.id_token_signed_response_alg = row.id_token_signed_response_alg or "RS256"
        self.client_metadata: dict[str, Any] = {}  # no signed userinfo responses

    @property
    def is_public(self) -> bool:
        return self.row.token_endpoint_auth_method == "none"

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        # only an unambiguous default (RFC 6749 §3.1.2.3)
        uris = self.row.redirect_uris or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """Requested scopes the client may have; scopes it may not are dropped silently, as
        OIDC Core §3.1.2.1 asks for scope values that are not understood."""
        if not scope:
            return ""
        allowed = set(self.row.scopes or [])
        seen: list[str] = []
        for value in scope_to_list(scope) or []:
            if value in allowed and value not in seen:
                seen.append(value)
        return " ".join(seen)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # exact string comparison, query included (RFC 6749 §3.1.2.2, OAuth 2.1)
        return redirect_uri in (self.row.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        registered = self.row.token_endpoint_auth_method
        if endpoint == "introspection" and registered == "none":
            return False  # public clients cannot be resource servers
        return method == registered

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in (self.row.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.row.grant_types or [])


@dataclass(slots=True)
class StoredCode(AuthorizationCodeMixin):
    """An authorization code's grant, kept in the Store under the code's SHA-256 digest."""

    client_id: str
    subject: str
    redirect_uri: str | None
    scope: str
    issued_at: int
    nonce: str | None = None
    auth_time: int | None = None
    acr: str | None = None
    amr: list[str] = field(default_factory=list)
    sid: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    claims: str | None = None
    resource: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return record_json(self)

    @classmethod
    def from_json(cls, raw: str) -> StoredCode:
        return cls(**json.loads(raw))

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str] | None:
        return self.amr or None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """One row of refresh_tokens (idp.db.models.RefreshToken), as read by a Core SELECT: plain
    values, no ORM session or identity map behind them (see idp/protocols/oidc/ledger.py)."""

    digest: str
    family_id: str
    client_id: str
    subject: str
    scope: str
    expires_at: datetime
    sid: str | None = None
    auth_time: int | None = None
    acr: str | None = None
    amr: list[str] = field(default_factory=list)
    nonce: str | None = None
    created_at: datetime | None = None
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None


class RefreshGrant(TokenMixin):
    """A refresh token record (we keep only its digest)."""

    def __init__(self, row: RefreshRecord) -> None:
        self.row = row

    def check_client(self, client: ClientMixin) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        expires = _aware(self.row.expires_at)
        return max(0, int((expires or datetime.now(UTC)).timestamp() - time.time()))

    def is_expired(self) -> bool:
        expires = _aware(self.row.expires_at)
        return expires is None or expires <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.rotated_at is not None

    def is_rotated(self) -> bool:
        return self.row.rotated_at is not None

    def get_user(self) -> str:
        return self.row.subject

    def get_client(self) -> None:
        return None


class AccessToken(TokenMixin):
    """One of our RFC 9068 JWT access tokens, signature already verified."""

    def __init__(self, claims: dict[str, Any], *, revoked: bool) -> None:
        self.claims = claims
        self.revoked = revoked
        self.scope = claims.get("scope", "")

    @property
    def jti(self) -> str:
        return str(self.claims.get("jti", ""))

    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]

    def check_client(self, client: ClientMixin) -> bool:
        return self.claims.get("client_id") == client.get_client_id()

    def get_scope(self) -> str:
        return str(self.scope or "")

    def get_expires_in(self) -> int:
        return max(0, int(self.claims.get("exp", 0) - time.time()))

    def is_expired(self) -> bool:
        exp = self.claims.get("exp")
        return not isinstance(exp, int | float) or exp <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str | None:
        return self.claims.get("sub")

    def get_client(self) -> None:
        return None
