"""A person's browser for the MFA and account tests: its own cookies and address, redirects
inside the OP followed by hand, forms read from the real pages."""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.mfa.people import Someone
from tests.oauth.flow import REDIRECT, RegisteredClient, exchange, fresh_ip, verify_id_token
from tests.support.server import LiveIdp


def form_field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no field {name!r} in the page:\n{page[:3000]}"
    return html.unescape(match.group(1))


def attribute(page: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', page)
    assert match, f"no attribute {name!r} in the page:\n{page[:3000]}"
    return html.unescape(match.group(1))


def path_of(response: httpx.Response) -> str:
    return response.url.path


@dataclass
class Browser:
    live: LiveIdp
    http: httpx.AsyncClient
    pages: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, live: LiveIdp) -> Browser:
        return cls(live, live.client(headers={"x-forwarded-for": fresh_ip()}))

    async def close(self) -> None:
        await self.http.aclose()

    async def walk(self, response: httpx.Response, person: Someone | None = None
                   ) -> httpx.Response:
        """Follow the OP's redirects, answering the password and consent pages; returns the
        first response that is not such a redirect: the client redirect, or a page (the
        second-factor page, an error page)."""
        for _ in range(10):
            location = response.headers.get("location", "")
            if response.status_code not in (302, 303) or location.startswith("http"):
                return response
            self.pages.append(location.split("?")[0])
            if location.startswith("/login/") and person is not None:
                page = await self.http.get(location)
                assert page.status_code == 200, page.text
                response = await self.http.post(location, data={
                    "csrf": form_field(page.text, "csrf"), "username": person.username,
                    "password": person.password})
            elif location.startswith("/consent/"):
                page = await self.http.get(location)
                response = await self.http.post(location, data={
                    "csrf": form_field(page.text, "csrf"), "decision": "allow"})
            else:
                response = await self.http.get(location)
        raise AssertionError(f"too many redirects: {self.pages}")

    async def authorize(self, client: RegisteredClient, person: Someone | None,
                        **params: str) -> httpx.Response:
        query = {"response_type": "code", "client_id": client.client_id,
                 "redirect_uri": REDIRECT, "scope": "openid profile",
                 "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}
        query.update(params)
        self.pages = []
        return await self.walk(await self.http.get("/authorize", params=query), person)

    async def submit(self, page: httpx.Response, data: dict[str, str], *,
                     person: Someone | None = None, form_index: int = 0) -> httpx.Response:
        """POST a form of `page` (its csrf taken from the page) and walk on."""
        fields = {"csrf": form_field(page.text, "csrf"), **data}
        response = await self.http.post(page.url.path, data=fields)
        return await self.walk(response, person)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text[:2000]
    location = response.headers["location"]
    assert location.startswith(REDIRECT), location
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, query
    return query["code"][0]


async def id_token_claims(live: LiveIdp, client: RegisteredClient,
                          response: httpx.Response) -> dict[str, Any]:
    """Redeem the code the client got and verify its ID token independently (joserfc)."""
    tokens = await exchange(live, client, code_of(response))
    assert tokens.status_code == 200, tokens.text
    return await verify_id_token(live, tokens.json()["id_token"], client.client_id)
