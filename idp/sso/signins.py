"""Pending sign-ins: the protocol-neutral sign-in core.

A protocol endpoint (OIDC's /authorize, CAS's /cas/login, ...) that needs the person to do
something first (log in, pass a second factor, change an expired password, consent) parks a
PendingSignIn in the Store under a random id and sends the browser to the page it needs
(`page_url`). The pages (web/) work with this record alone: which app asks, what it asks to be
told (the consent page), what it requires of the sign-in (acr values), and they write down what
happened (the SSO session made, the consent given or refused). When they are done they send the
browser to `resume`, a path the protocol chose when it parked the sign-in, where the protocol
takes the record back (single use) and answers its app in its own way. The pages never learn
which protocol asked; a protocol never renders a page. (node-oidc-provider's interactions and
authlib's `grant_user` seam, made protocol-neutral.)
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from idp.store.base import Store
from idp.store.records import record_json

SIGNIN_TTL = 15 * 60
MAX_ID = 64

# login: a password (then second factor...); consent: the person's consent; identity: which of
# the person's linked identities the app gets (identities.py)
Page = Literal["login", "consent", "identity"]


@dataclass(slots=True)
class PendingSignIn:
    id: str
    protocol: str  # who parked it ("oidc", "cas"): for the audit log, never for the pages
    resume: str  # the protocol's path the browser returns to once the pages are done
    page: Page  # what the protocol asked for: a login, the person's consent, an identity
    app_id: str  # the app asking: an OIDC client_id, a CAS service's registered id
    app_name: str
    scopes: list[str]  # what the consent page asks the person to release
    request: dict[str, str]  # the protocol's own saved request: the pages never read it
    login_hint: str | None = None
    ui_locales: str | None = None
    reason: str | None = None  # why a login is needed: no_session, prompt_login, max_age, mfa...
    acr_values: list[str] = field(default_factory=list)  # what the app requires of the sign-in
    # the consent page: of `scopes`, those the person may not untick, and those they unticked
    # the last time this app asked (shown unticked again); every other scope is shown ticked
    required_scopes: list[str] = field(default_factory=list)
    declined_scopes: list[str] = field(default_factory=list)
    # filled in by the pages:
    sid: str | None = None  # the SSO session the login created or confirmed
    granted_scopes: list[str] | None = None  # what the person allowed of `scopes`
    denied: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def page_url(self) -> str:
        """The page the browser goes to first: the second factor for a step-up (a session whose
        password stands), else the login or the consent page."""
        if self.page == "login" and self.reason == "mfa":
            return f"/mfa/{self.id}"
        return f"/{self.page}/{self.id}"


class SignIns:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def start(self, *, resume: str, **fields: Any) -> PendingSignIn:
        """Park a sign-in; `resume` may name the new id as `{id}`."""
        signin_id = secrets.token_urlsafe(24)
        signin = PendingSignIn(id=signin_id, resume=resume.format(id=signin_id), **fields)
        await self.save(signin)
        return signin

    async def save(self, signin: PendingSignIn) -> None:
        await self.store.put(f"signin:{signin.id}", record_json(signin), SIGNIN_TTL)

    async def get(self, signin_id: str | None) -> PendingSignIn | None:
        if not signin_id or len(signin_id) > MAX_ID:
            return None
        raw = await self.store.get(f"signin:{signin_id}")
        return PendingSignIn(**json.loads(raw)) if raw else None

    async def take(self, signin_id: str | None) -> PendingSignIn | None:
        """Take it out of the Store (single use): the protocol resumes it once."""
        if not signin_id or len(signin_id) > MAX_ID:
            return None
        raw = await self.store.take(f"signin:{signin_id}")
        return PendingSignIn(**json.loads(raw)) if raw else None
