"""The two devices of a QR sign-in, as real HTTP clients: a PC whose login page shows the code,
and a phone that opens the code's URL. Each has its own cookies, address and User-Agent; pages
are read as served (the code's URL from the page's data-url attribute)."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from tests.mfa.browser import Browser, attribute, form_field
from tests.mfa.people import Someone
from tests.oauth.flow import REDIRECT, RegisteredClient, fresh_ip
from tests.support.server import LiveIdp

PC_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36")
PHONE_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50")


def device(live: LiveIdp, agent: str) -> Browser:
    ip = fresh_ip()
    browser = Browser(live, live.client(headers={"x-forwarded-for": ip, "user-agent": agent}))
    browser.ip = ip  # type: ignore[attr-defined]
    return browser


def authorize_query(client: RegisteredClient, **params: str) -> dict[str, str]:
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
             "scope": "openid profile", "state": secrets.token_urlsafe(8),
             "nonce": secrets.token_urlsafe(8)}
    query.update(params)
    return query


@dataclass
class QrTab:
    """What the PC's "scan to sign in" tab shows."""

    page: httpx.Response
    login_path: str
    url: str = field(init=False)
    wait: str = field(init=False)
    redeem: str = field(init=False)
    csrf: str = field(init=False)

    def __post_init__(self) -> None:
        text = self.page.text
        self.url = attribute(text, "data-url")
        self.wait = attribute(text, "data-wait")
        match = re.search(r'<form id="qr-redeem" method="post" action="([^"]+)"', text)
        assert match, text[:2000]
        self.redeem = html.unescape(match.group(1))
        self.csrf = form_field(text, "csrf")

    @property
    def code_path(self) -> str:
        return urlsplit(self.url).path


async def pc_at_login(pc: Browser, client: RegisteredClient, **params: str) -> str:
    """The PC asks for an app: the engine parks the sign-in and sends it to the login page."""
    started = await pc.http.get("/authorize", params=authorize_query(client, **params))
    assert started.status_code in (302, 303), started.text[:1000]
    location = started.headers["location"]
    assert location.startswith("/login/"), location
    return location


async def qr_tab(pc: Browser, login_path: str) -> QrTab:
    login = await pc.http.get(login_path)
    assert login.status_code == 200
    assert f'href="{login_path}/qr"' in login.text, "the login page offers no QR tab"
    page = await pc.http.get(f"{login_path}/qr")
    assert page.status_code == 200, page.text[:2000]
    return QrTab(page, login_path)


async def signed_in_phone(live: LiveIdp, client: RegisteredClient, person: Someone) -> Browser:
    """A phone whose browser is signed in (it used an app earlier)."""
    phone = device(live, PHONE_AGENT)
    done = await phone.walk(await phone.http.get("/authorize", params=authorize_query(client)),
                            person)
    assert done.status_code == 302 and done.headers["location"].startswith(REDIRECT), \
        done.text[:2000]
    return phone


async def poll(pc: Browser, tab: QrTab, seen: str) -> dict[str, object]:
    answer = await pc.http.get(tab.wait, params={"seen": seen}, timeout=40)
    assert answer.status_code == 200, answer.text
    return answer.json()


def start_poll(pc: Browser, tab: QrTab, seen: str) -> asyncio.Task[dict[str, object]]:
    return asyncio.get_running_loop().create_task(poll(pc, tab, seen))


async def answer(phone: Browser, tab: QrTab, page: httpx.Response, action: str
                 ) -> httpx.Response:
    return await phone.http.post(tab.code_path, data={"csrf": form_field(page.text, "csrf"),
                                                      "action": action})
