"""A browser signed into the admin console through the real SSO login."""

from __future__ import annotations

import html
import re

import httpx

from tests.admin.support import PASSWORDS, AdminBackend
from tests.oauth.flow import Browser


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, f"no CSRF field in the page:\n{html[:1500]}"
    return match.group(1)


async def console_browser(backend: AdminBackend, username: str = "itadmin", password: str | None = None,
                          start: str = "/admin") -> tuple[Browser, httpx.Response]:
    """Open `start` without a session and walk the real login; returns the browser and the
    page it finally lands on."""
    browser = Browser.open(backend.live)
    first = await browser.http.get(start)
    assert first.status_code == 303 and first.headers["location"].startswith("/admin/login?"), first.text
    arrived = await browser.walk(first, username=username, password=password or PASSWORDS[username])
    assert arrived.status_code == 302, arrived.text
    callback = arrived.headers["location"]
    assert callback.startswith(backend.live.settings.issuer + "/admin/callback?"), callback
    back = await browser.http.get(callback)
    assert back.status_code == 303, back.text
    page = await browser.http.get(back.headers["location"])
    return browser, page


async def post_form(browser: Browser, page_path: str, action: str, data: dict[str, str],
                    **kwargs: object) -> httpx.Response:
    """Submit a form of the page at page_path, with that page's CSRF token."""
    page = await browser.http.get(page_path)
    assert page.status_code == 200, page.text
    return await browser.http.post(action, data={"csrf": csrf_of(page.text), **data}, **kwargs)


def form_inputs(html_text: str, action: str) -> dict[str, str]:
    """The text inputs of the form posting to `action`, as a browser would send them."""
    start = html_text.index(f'action="{action}"')
    end = html_text.index("</form>", start)
    fields = re.findall(r'<input type="(?:text|email)" id="[^"]*" name="([^"]+)" value="([^"]*)"',
                        html_text[start:end])
    return {name: html.unescape(value) for name, value in fields}
