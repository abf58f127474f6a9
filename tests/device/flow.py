"""Device sign-in (RFC 8628) as the two sides do it: the device (a client that polls) and the
person (a browser that enters the code, signs in and confirms), over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx

from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT
from tests.oauth.flow import Browser, RegisteredClient, form_field, register
from tests.support.server import LiveIdp


async def device_client(live: LiveIdp, *, public: bool = False, **kwargs: Any) -> RegisteredClient:
    """A command-line tool or classroom display: the device grant (and refresh tokens), no
    redirect URI."""
    kwargs.setdefault("grant_types", [DEVICE_CODE_GRANT, "refresh_token"])
    return await register(live, redirect_uris=[], public=public, **kwargs)


def _auth(client: RegisteredClient, data: dict[str, str]) -> dict[str, Any]:
    if client.secret:
        return {"data": data, "auth": client.basic}
    return {"data": {**data, "client_id": client.client_id}}


async def start(live: LiveIdp, client: RegisteredClient, *,
                scope: str = "openid profile") -> dict[str, Any]:
    async with live.client() as http:
        response = await http.post("/device_authorization", **_auth(client, {"scope": scope}))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def poll(live: LiveIdp, client: RegisteredClient, device_code: str) -> httpx.Response:
    async with live.client() as http:
        return await http.post("/token", **_auth(client, {
            "grant_type": DEVICE_CODE_GRANT, "device_code": device_code}))


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, (response.status_code, response.text)
    return str(response.json()["error"])


async def enter_code(browser: Browser, typed: str) -> httpx.Response:
    """The person opens /device, types the code and presses Continue."""
    page = await browser.http.get("/device")
    assert page.status_code == 200, page.text
    return await browser.http.post("/device", data={"csrf": form_field(page.text, "csrf"),
                                                    "user_code": typed})


async def confirm(browser: Browser, typed: str, *, decision: str = "allow",
                  username: str = "student", password: str = "student123") -> httpx.Response:
    """Enter the code, sign in, confirm (or refuse): the page the browser ends on."""
    entered = await enter_code(browser, typed)
    assert entered.status_code == 303, entered.text
    return await browser.walk(entered, username=username, password=password, consent=decision)


def shown_code(html: str) -> str:
    match = re.search(r'data-user-code="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)
