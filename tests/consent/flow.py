"""A browser that stops at the consent page and answers it box by box, as a person would:
the form is read from the real page (hidden required scopes, ticked and unticked boxes)."""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, exchange, query_of
from tests.support.server import LiveIdp

_BOX = re.compile(r'<input type="checkbox" name="scope" value="([^"]+)"( checked)?>')
_HIDDEN = re.compile(r'<input type="hidden" name="scope" value="([^"]+)">')


@dataclass
class ConsentPage:
    path: str
    page: httpx.Response

    @property
    def required(self) -> list[str]:
        return [html.unescape(v) for v in _HIDDEN.findall(self.page.text)]

    @property
    def boxes(self) -> dict[str, bool]:
        """The optional scopes, and whether each starts ticked."""
        return {html.unescape(v): bool(on) for v, on in _BOX.findall(self.page.text)}

    def csrf(self) -> str:
        match = re.search(r'name="csrf" value="([^"]*)"', self.page.text)
        assert match, self.page.text[:2000]
        return match.group(1)


def params(client: RegisteredClient, scope: str, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
            "scope": scope, "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), **extra}


async def start(browser: Browser, query: dict[str, str]) -> httpx.Response:
    """/authorize, through the login page, up to the consent page or the client's redirect."""
    response = await browser.http.get("/authorize", params=query)
    browser.pages = []
    for _ in range(8):
        location = response.headers.get("location", "")
        if response.status_code not in (302, 303) or location.startswith("http") \
                or location.startswith("/consent/"):
            return response
        browser.pages.append(location.split("/")[1])
        if location.startswith("/login/"):
            response = await browser._login(location, "student", "student123")
        else:
            response = await browser.http.get(location)
    raise AssertionError("too many redirects inside the OP")


async def consent_page(browser: Browser, response: httpx.Response, **query: str) -> ConsentPage:
    assert response.status_code == 303, response.text[:2000]
    path = response.headers["location"]
    assert path.startswith("/consent/"), path
    page = await browser.http.get(path, params=query)
    assert page.status_code == 200, page.text[:2000]
    return ConsentPage(path, page)


async def answer(browser: Browser, shown: ConsentPage, *, untick: tuple[str, ...] = (),
                 tick: tuple[str, ...] = (), drop: tuple[str, ...] = (),
                 decision: str = "allow", locale: str = "en") -> httpx.Response:
    """Submit the page's form: `untick`/`tick` optional boxes, `drop` a required scope's hidden
    field (what only a tampered form does). Returns the page's answer (not followed)."""
    scopes = [s for s in shown.required if s not in drop]
    scopes += [s for s, on in shown.boxes.items() if (on or s in tick) and s not in untick]
    scopes += [s for s in tick if s not in scopes]
    data = {"csrf": shown.csrf(), "ui_locales": locale, "choice": "scopes",
            "decision": decision, "scope": scopes}
    return await browser.http.post(shown.path, data=data)


async def finish(browser: Browser, answered: httpx.Response) -> dict[str, str]:
    """After the consent page: resume the authorization; the client's redirect parameters."""
    assert answered.status_code == 303, answered.text[:2000]
    response = await browser.http.get(answered.headers["location"])
    return redirect_params(response)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:2000]
    assert response.headers["location"].startswith(REDIRECT), response.headers["location"]
    return query_of(response.headers["location"])


async def redeem(live: LiveIdp, client: RegisteredClient, result: dict[str, str]
                 ) -> dict[str, Any]:
    assert "code" in result, result
    tokens = await exchange(live, client, result["code"])
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


async def userinfo(live: LiveIdp, access_token: str) -> dict[str, Any]:
    async with live.client() as http:
        response = await http.get("/userinfo",
                                  headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    return response.json()


async def introspect(live: LiveIdp, client: RegisteredClient, token: str) -> dict[str, Any]:
    async with live.client() as http:
        response = await http.post("/introspect", data={"token": token}, auth=client.basic)
    assert response.status_code == 200, response.text
    return response.json()
