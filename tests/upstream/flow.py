"""A person's browser through an upstream sign-in: the campus login page's button, the upstream
provider's own pages, and back."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urljoin

import httpx

from tests.mfa.browser import Browser
from tests.mfa.people import Someone
from tests.oauth.flow import REDIRECT, RegisteredClient


def button(page: str, name: str) -> str:
    match = re.search(rf'href="(/upstream/{name}/start/[^"]+)"', page)
    assert match, f"no button for {name!r} on the page"
    return match.group(1)


async def through_provider(browser: Browser, response: httpx.Response, login: str) -> str:
    """From a redirect to the upstream provider, through its login form (signing in as its
    account `login`), to the URL that sends the browser back to campus-idp."""
    http = browser.http
    for _ in range(12):
        if response.status_code == 200 and 'name="login"' in response.text:
            action = re.search(r'action="([^"]+)"', response.text)
            assert action
            response = await http.post(urljoin(str(response.url), action.group(1)),
                                       data={"login": login})
            continue
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        url = urljoin(str(response.url), response.headers["location"])
        if url.startswith(browser.live.base_url):
            return url.removeprefix(browser.live.base_url)
        response = await http.get(url)
    raise AssertionError("the provider kept redirecting")


async def upstream_authorize(browser: Browser, client: RegisteredClient, login: str, *,
                             person: Someone | None = None, upstream: str = "uni",
                             **params: str) -> httpx.Response:
    """An authorization request whose sign-in is the upstream account `login`: the login
    page's button, the provider, the callback, and on (with `person`'s campus password when
    the login page asks for it, to bind). Returns the first answer that is not a redirect
    inside campus-idp."""
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
             "scope": "openid profile", "state": secrets.token_urlsafe(8),
             "nonce": secrets.token_urlsafe(8), **params}
    response = await browser.http.get("/authorize", params=query)
    return await from_login_page(browser, response, login, person=person, upstream=upstream)


async def from_login_page(browser: Browser, response: httpx.Response, login: str, *,
                          person: Someone | None = None, upstream: str = "uni") -> httpx.Response:
    """From a protocol's redirect to the login page (any protocol: OIDC, CAS) through the
    upstream provider and on, as upstream_authorize."""
    login_path = response.headers["location"]
    assert login_path.startswith("/login/"), login_path
    page = await browser.http.get(login_path)
    started = await browser.http.get(button(page.text, upstream))
    assert started.status_code == 303, started.text[:500]
    back = await through_provider(browser, started, login)
    assert back.startswith(f"/upstream/{upstream}/callback?"), back
    return await browser.walk(await browser.http.get(back), person)
