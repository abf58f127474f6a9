"""A browser walking the real authorization code flow over HTTP: /authorize, the login page,
whatever pages the login leads to (change password, expiry notice, consent), back to the app."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

from idp.protocols.oidc.clients import create_client
from tests.support.server import LiveIdp

REDIRECT_URI = "https://app.example.edu/cb"


@dataclass
class App:
    client_id: str
    secret: str


async def register_app(live: LiveIdp, *, skip_consent: bool = True) -> App:
    client, secret = await create_client(
        live.services.db, name="Finance 财务系统", redirect_uris=[REDIRECT_URI],
        scopes=["openid", "profile"], skip_consent=skip_consent)
    assert secret is not None
    return App(client.client_id, secret)


def field_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name!r} in the page"
    return match.group(1)


def page_error(html: str) -> str:
    match = re.search(r'<p class="message error" role="alert">([^<]*)</p>', html)
    assert match, "the page shows no error message"
    return match.group(1)


@dataclass
class Authorization:
    """An authorization request in progress in one browser."""

    browser: httpx.AsyncClient
    app: App
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))

    async def start(self) -> httpx.Response:
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        return await self.browser.get("/authorize", params={
            "response_type": "code", "client_id": self.app.client_id, "redirect_uri": REDIRECT_URI,
            "scope": "openid profile", "state": self.state, "nonce": "n-0S6",
            "code_challenge": challenge, "code_challenge_method": "S256", "ui_locales": "en"})

    async def log_in(self, username: str, password: str) -> httpx.Response:
        """From /authorize to the first answer of the login POST."""
        started = await self.start()
        assert started.status_code in (302, 303), started.text
        login = started.headers["location"]
        assert login.startswith("/login/"), login
        page = await self.browser.get(login)
        return await self.browser.post(login, data={
            "csrf": field_value(page.text, "csrf"), "username": username, "password": password})

    async def follow_to_app(self, response: httpx.Response) -> dict[str, list[str]]:
        """Follow redirects (GETs) until the app's redirect_uri; returns its query."""
        for _ in range(8):
            assert response.status_code in (302, 303), (response.status_code, response.text)
            location = response.headers["location"]
            if location.startswith(REDIRECT_URI):
                query = parse_qs(urlsplit(location).query)
                assert query.get("state") == [self.state], query
                return query
            response = await self.browser.get(location)
        raise AssertionError("the flow never came back to the app")

    async def redeem(self, query: dict[str, list[str]]) -> dict[str, object]:
        tokens = await self.browser.post("/token", data={
            "grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": REDIRECT_URI, "code_verifier": self.verifier},
            auth=(self.app.client_id, self.app.secret))
        assert tokens.status_code == 200, tokens.text
        return tokens.json()


async def change_password(browser: httpx.AsyncClient, location: str, current: str, new: str,
                          again: str | None = None) -> httpx.Response:
    page = await browser.get(location)
    assert page.status_code == 200, page.text
    return await browser.post(location, data={
        "csrf": field_value(page.text, "csrf"), "current_password": current,
        "new_password": new, "new_password_again": new if again is None else again})
