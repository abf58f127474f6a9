"""Helpers of the admin tests: a backend (a live campus-idp and its directory), admin access
tokens minted through the real authorization code flow, API calls, and real binds."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import ldap

from directory.base import Person
from directory.demo_people import DEMO_PEOPLE
from idp.admin.auth import ADMIN_SCOPE
from idp.protocols.oidc.clients import DEFAULT_SCOPES
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, exchange, query_of, register
from tests.support.samba_dc import SambaDC
from tests.support.server import LiveIdp
from tests.support.slapd import Campus

PASSWORDS = {person.username: person.password for person in DEMO_PEOPLE}
_serial = itertools.count(1)
TOKEN_REUSE_SECONDS = 600  # tokens live 900 s: mint anew well before that


def unique_username(prefix: str = "p") -> str:
    return f"{prefix}{next(_serial)}x{secrets.token_hex(3)}"


@dataclass
class AdminBackend:
    kind: str  # local, ldap (slapd) or ad (Samba AD DC)
    live: LiveIdp
    client: RegisteredClient  # a first-party app allowed to ask for idp:admin
    slapd: Campus | None = None
    dc: SambaDC | None = None  # kind "ad": the Samba AD DC
    _tokens: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)

    @property
    def services(self) -> Any:
        return self.live.services

    async def token(self, username: str = "itadmin", scope: str = f"openid {ADMIN_SCOPE}") -> str:
        """An access token for `username` from the real code flow (login form, /token)."""
        key = (username, scope)
        cached = self._tokens.get(key)
        if cached and time.monotonic() - cached[0] < TOKEN_REUSE_SECONDS:
            return cached[1]
        browser = Browser.open(self.live)
        try:
            state = secrets.token_urlsafe(8)
            response = await browser.authorize(
                {"response_type": "code", "client_id": self.client.client_id,
                 "redirect_uri": REDIRECT, "scope": scope, "state": state},
                username=username, password=PASSWORDS[username])
        finally:
            await browser.close()
        assert response.status_code == 302, response.text
        result = query_of(response.headers["location"])
        assert result.get("state") == state and "code" in result, result
        tokens = await exchange(self.live, self.client, result["code"])
        assert tokens.status_code == 200, tokens.text
        access_token = tokens.json()["access_token"]
        self._tokens[key] = (time.monotonic(), access_token)
        return access_token

    async def api(self, method: str, path: str, *, token: str | None = None,
                  anonymous: bool = False, **kwargs: Any) -> httpx.Response:
        """Call /admin/api{path} as itadmin (or with `token`, or with no token at all)."""
        headers = dict(kwargs.pop("headers", {}))
        if not anonymous:
            headers["Authorization"] = f"Bearer {token or await self.token()}"
        async with self.live.client() as http:
            return await http.request(method, "/admin/api" + path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.api(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def bind(self, username: str, password: str) -> bool:
        """Whether `password` opens a real bind for `username`: a raw LDAP simple bind on slapd
        (no IdP code in between), the local directory's own check otherwise."""
        if self.dc is not None:
            person = await self.services.directory.find(username)
            assert person is not None and person.dn
            try:
                self.dc.connect(person.dn, password).unbind_s()
                return True
            except ldap.INVALID_CREDENTIALS:
                return False
        if self.slapd is None:
            from directory.base import InvalidCredentials, MustChangePassword

            try:
                await self.services.directory.authenticate(username, password)
            except InvalidCredentials:
                return False
            except MustChangePassword:
                return True  # the right password, which the first login must replace
            return True
        person = await self.services.directory.find(username)
        assert person is not None and person.dn
        conn = ldap.initialize(self.slapd.server.ldap_uri)
        try:
            conn.simple_bind_s(person.dn, password)
            return True
        except ldap.INVALID_CREDENTIALS:
            return False
        finally:
            conn.unbind_s()

    async def person(self, username: str) -> Person | None:
        return await self.services.directory.find(username)

    async def new_person(self, **fields: Any) -> tuple[str, str]:
        """Create a person through the API; returns (username, password)."""
        username = fields.pop("username", None) or unique_username()
        password = fields.pop("password", None) or "Initial-" + secrets.token_hex(4)
        body = {"username": username, "password": password, "name": f"Test {username}",
                "family_name": "Test", "email": f"{username}@example.edu", **fields}
        await self.ok("POST", "/people", 201, json=body)
        return username, password


async def mint_admin_backend(kind: str, live: LiveIdp, *, slapd: Campus | None = None,
                             dc: SambaDC | None = None) -> AdminBackend:
    client = await register(live, name=f"Admin tool ({kind})", skip_consent=True,
                            scopes=[*DEFAULT_SCOPES, ADMIN_SCOPE])
    return AdminBackend(kind=kind, live=live, client=client, slapd=slapd, dc=dc)
