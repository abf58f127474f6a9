"""The per-request bridge between our async storage and authlib's synchronous engine.

authlib calls `query_client`, `query_authorization_code`, `save_token`, ... synchronously. Rather
than block the event loop or hop to a thread, the adapter (adapter.py) *prefetches* everything a
request can need into an `OAuthContext`, runs authlib, which reads the context and *records* the
writes it wants, and then awaits those writes before the response leaves. The context is bound
to a context variable for the duration of the (synchronous) authlib call, so authlib callbacks
that receive no request (such as `query_client`) still find it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from directory.base import Person
from idp.protocols.oidc.models import AccessToken, OAuthClient, RefreshGrant, RefreshRecord, StoredCode
from idp.sso.sessions import SsoSession

if TYPE_CHECKING:
    from idp.protocols.oidc.device_codes import Poll
    from idp.protocols.oidc.ledger import Claim
    from idp.services import Services

Write = Callable[[], Awaitable[Any]]


@dataclass
class AuditNote:
    outcome: str
    actor: str | None = None
    client_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class OAuthContext:
    services: Services
    ip: str | None = None
    # --- prefetched (read by authlib's sync callbacks) ---
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    code: StoredCode | None = None  # already taken out of the Store: single use
    code_digest: str | None = None  # of the code the request presented
    refresh: RefreshGrant | None = None
    person: Person | None = None
    session: SsoSession | None = None
    access_token: AccessToken | None = None
    bearer_present: bool = False  # userinfo: a token was sent at all (RFC 6750 §3.1)
    assertion_jti_fresh: bool = False  # private_key_jwt: this jti was never seen before
    granted_scopes: list[str] | None = None  # consent narrowed the request to these
    resource: list[str] = field(default_factory=list)
    device_poll: Poll | None = None  # device grant: what the poll found (device_codes.py)
    # --- recorded (awaited by the adapter before the response is sent) ---
    writes: list[Write] = field(default_factory=list)
    # Store items written in one round trip (Store.write_many) before the `writes`
    store_puts: list[tuple[str, str, int]] = field(default_factory=list)
    store_members: list[tuple[str, str, int]] = field(default_factory=list)
    new_refresh: RefreshRecord | None = None
    rotated_digest: str | None = None  # the refresh token this request rotates (must win)
    # the refresh token claimed before the grant was decided (ledger.claim_refresh): given back
    # unless the grant issues its successor (handlers.token)
    claim: Claim | None = None
    revoke_families: list[str] = field(default_factory=list)
    # authorization_code: what the redemption issues, chosen before the code is taken
    planned_jti: str | None = None
    planned_family: str | None = None
    planned_refresh: str | None = None  # the refresh token's value (it names the jti)
    # the client authenticated before the code was taken: (auth methods, endpoint) -> the
    # client and its method; authlib's own authentication reads it instead of doing it again
    authenticated: tuple[tuple[tuple[str, ...], str], OAuthClient, str] | None = None
    audit: list[AuditNote] = field(default_factory=list)
    # claim names released (subject, client_id, names): recorded once the response may be sent
    releases: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    introspected_by: str | None = None  # the client asking /introspect, once it may

    def later(self, write: Write) -> None:
        self.writes.append(write)

    def released(self, subject: str, client_id: str, claims: Any) -> None:
        """`claims` (names) go to `client_id` for `subject` in this response."""
        self.releases.append((subject, client_id, tuple(claims)))

    def record_releases(self) -> None:
        """Hand the releases to the record, written behind (idp/db/releases.py)."""
        record = self.services.releases.record
        for subject, client_id, claims in self.releases:
            record(subject, client_id, claims)
        self.releases.clear()

    def note(self, outcome: str, **detail: Any) -> None:
        actor = detail.pop("actor", None)
        client_id = detail.pop("client_id", None)
        self.audit.append(AuditNote(outcome, actor, client_id, detail))


_current: ContextVar[OAuthContext | None] = ContextVar("oauth_context", default=None)


def current() -> OAuthContext:
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("authlib called outside OAuthContext.bound(): nothing was prefetched")
    return ctx


@contextmanager
def bound(ctx: OAuthContext) -> Iterator[OAuthContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
