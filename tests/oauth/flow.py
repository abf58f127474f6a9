"""Test helpers for the protocol engine: a browser that walks the real login and consent forms,
clients registered through idp.protocols.oidc.clients, and an independent ID token check (joserfc)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.db.models import Client
from idp.protocols.oidc.clients import create_client
from tests.support.server import LiveIdp

REDIRECT = "https://rp.example.edu/cb"
_addresses = itertools.count(1)


def fresh_ip() -> str:
    """Each browser gets its own address so login throttling never couples two tests
    (uvicorn trusts X-Forwarded-For from 127.0.0.1)."""
    n = next(_addresses) + secrets.randbelow(4000) * 1000
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class RegisteredClient:
    row: Client
    secret: str | None

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def basic(self) -> tuple[str, str]:
        assert self.secret is not None
        return (self.client_id, self.secret)


async def register(live: LiveIdp, **kwargs: Any) -> RegisteredClient:
    kwargs.setdefault("name", "Test RP " + secrets.token_hex(3))
    kwargs.setdefault("redirect_uris", [REDIRECT])
    row, secret = await create_client(live.services.db, **kwargs)
    return RegisteredClient(row, secret)


def query_of(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


def form_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name!r} in the page:\n{html[:2000]}"
    return match.group(1)


@dataclass
class Browser:
    """A person's browser: its own cookie jar and address, redirects followed by hand."""

    live: LiveIdp
    http: httpx.AsyncClient
    pages: list[str] = field(default_factory=list)  # paths of the pages shown on the way

    @classmethod
    def open(cls, live: LiveIdp) -> Browser:
        return cls(live, live.client(headers={"x-forwarded-for": fresh_ip()}))

    async def close(self) -> None:
        await self.http.aclose()

    async def authorize(self, params: dict[str, str], *, username: str = "student",
                        password: str = "student123", consent: str = "allow",
                        method: str = "GET") -> httpx.Response:
        """Send an authorization request and walk login/consent pages until the OP answers
        with something that is not one of its own pages: the redirect to the client (or an
        error page). Returns that last response."""
        if method == "POST":
            response = await self.http.post("/authorize", data=params)
        else:
            response = await self.http.get("/authorize", params=params)
        return await self.walk(response, username=username, password=password, consent=consent)

    async def visit(self, url: str, **kwargs: str) -> httpx.Response:
        """Open an authorization URL built by someone else (a client library)."""
        return await self.walk(await self.http.get(url), **kwargs)

    async def walk(self, response: httpx.Response, *, username: str = "student",
                   password: str = "student123", consent: str = "allow") -> httpx.Response:
        self.pages = []
        for _ in range(8):
            location = response.headers.get("location", "")
            if response.status_code not in (302, 303) or location.startswith("http"):
                return response
            self.pages.append(location.split("/")[1])
            if location.startswith("/login/"):
                response = await self._login(location, username, password)
            elif location.startswith("/consent/"):
                response = await self._consent(location, consent)
            else:
                response = await self.http.get(location)
        raise AssertionError("too many redirects inside the OP")

    async def _login(self, path: str, username: str, password: str) -> httpx.Response:
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        data = {"csrf": form_field(page.text, "csrf"), "username": username,
                "password": password}
        response = await self.http.post(path, data=data)
        assert response.status_code == 303, response.text
        return response

    async def _consent(self, path: str, decision: str) -> httpx.Response:
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        data = {"csrf": form_field(page.text, "csrf"), "decision": decision}
        response = await self.http.post(path, data=data)
        assert response.status_code == 303, response.text
        return await self.http.get(response.headers["location"])

    async def code(self, client: RegisteredClient, *, scope: str = "openid profile",
                   **extra: str) -> tuple[str, dict[str, str]]:
        """Run a code flow to the redirect; returns (code, all redirect parameters)."""
        params = {"response_type": "code", "client_id": client.client_id,
                  "redirect_uri": REDIRECT, "scope": scope, "state": secrets.token_urlsafe(8)}
        params.update(extra)
        response = await self.authorize(params)
        assert response.status_code == 302, response.text
        assert response.headers["location"].startswith(REDIRECT), response.headers["location"]
        result = query_of(response.headers["location"])
        assert result.get("state") == params["state"], result
        assert "code" in result, result
        return result["code"], result


async def exchange(live: LiveIdp, client: RegisteredClient, code: str,
                   **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    async with live.client() as http:
        if client.secret:
            return await http.post("/token", data=data, auth=client.basic)
        return await http.post("/token", data={**data, "client_id": client.client_id})


async def tokens_for(live: LiveIdp, client: RegisteredClient, *, scope: str = "openid profile",
                     **extra: str) -> dict[str, Any]:
    """A person logs in in a fresh browser; the client redeems the code."""
    browser = Browser.open(live)
    try:
        code, _ = await browser.code(client, scope=scope, **extra)
    finally:
        await browser.close()
    response = await exchange(live, client, code)
    assert response.status_code == 200, response.text
    return response.json()


async def jwks(live: LiveIdp) -> KeySet:
    async with live.client() as http:
        response = await http.get("/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


async def verify_id_token(live: LiveIdp, token: str, client_id: str) -> dict[str, Any]:
    """Signature against the published JWKS and the OIDC Core §3.1.3.7 claim checks, with
    joserfc (not our KeyRing)."""
    decoded = jwt.decode(token, await jwks(live), algorithms=["RS256", "ES256"])
    claims = decoded.claims
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": live.settings.issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
    )
    registry.validate(claims)
    return claims
