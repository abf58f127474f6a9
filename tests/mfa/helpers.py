"""Steps several MFA and account tests share: a client that requires a second factor, a person
who enrols an authenticator app on the spot, TOTP codes computed the way an app computes them
(pyotp, independent of the IdP's own implementation)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp

from idp.mfa.client_flag import set_require_mfa
from tests.mfa.browser import Browser, attribute, form_field
from tests.mfa.people import Someone, new_person
from tests.oauth.flow import RegisteredClient, register
from tests.support.server import LiveIdp


async def mfa_client(live: LiveIdp) -> RegisteredClient:
    """An app such as the finance system: skips consent, requires a second factor."""
    client = await register(live, skip_consent=True, name="财务报销 Finance (test)")
    assert await set_require_mfa(live.services.db, client.client_id)
    return client


async def plain_client(live: LiveIdp) -> RegisteredClient:
    return await register(live, skip_consent=True)


def app_code(secret: str, *, steps_ahead: int = 0) -> str:
    """What the authenticator app shows now (or `steps_ahead` 30-second steps later: the IdP
    accepts one step of drift, and never the same step twice)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def recovery_codes(page: str) -> list[str]:
    return re.findall(r'class="recovery-code">([^<]+)<', page)


def is_mfa_page(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.url.path.startswith("/mfa/")


async def enrol_on_the_spot(browser: Browser, page: httpx.Response
                            ) -> tuple[str, list[str], httpx.Response]:
    """On the forced enrolment page: scan (read the secret), type the app's code, note the
    recovery codes, continue. Returns (secret, codes, the response after continuing)."""
    assert is_mfa_page(page), page.text[:2000]
    assert 'value="enrol"' in page.text and 'src="data:image/svg+xml' in page.text
    secret = attribute(page.text, "data-secret")
    cookie = browser.live.settings.session.cookie_name
    before = browser.http.cookies.get(cookie)
    shown = await browser.submit(page, {"method": "enrol", "code": app_code(secret)})
    assert shown.status_code == 200, shown.text[:2000]
    codes = recovery_codes(shown.text)
    # no (new) session until the person has seen the codes and pressed "continue"
    assert browser.http.cookies.get(cookie) == before
    return secret, codes, await browser.submit(shown, {"method": "continue"})


async def enrolled_person(live: LiveIdp) -> tuple[Someone, str, list[str]]:
    """A person with an authenticator app and recovery codes (enrolled at a login)."""
    person = await new_person(live)
    client = await mfa_client(live)
    browser = Browser.open(live)
    try:
        page = await browser.authorize(client, person)
        secret, codes, done = await enrol_on_the_spot(browser, page)
        assert done.status_code == 302, done.text[:2000]
    finally:
        await browser.close()
    return person, secret, codes


def csrf_of(page: httpx.Response) -> str:
    return form_field(page.text, "csrf")


# --- step-up before account changes (idp/web/account_step_up.py) --------------------------


def asked_again(response: httpx.Response, back: str = "/account") -> bool:
    """The answer of a refused change: to the page that explains why, remembering where to go."""
    if response.status_code != 303:
        return False
    target = urlsplit(response.headers["location"])
    return target.path == "/account/confirm" and parse_qs(target.query)["next"] == [back]


async def confirm(browser: Browser, refused: httpx.Response,
                  answer: dict[str, str] | Callable[[str], dict[str, str]]) -> httpx.Response:
    """Walk the step-up from a refused change: the explanation, the factor (or password) page
    and its `answer` (or what `answer` makes of that page: a passkey signs its challenge), back
    to the account page. Returns the account page's answer."""
    page = await browser.http.get(refused.headers["location"], params={"ui_locales": "en"})
    assert page.status_code == 200 and 'id="step-up-why"' in page.text, page.text[:1000]
    started = await browser.http.post("/account/confirm", data={
        "csrf": form_field(page.text, "csrf"), "next": form_field(page.text, "next")})
    assert started.status_code == 303, started.text[:500]
    factor_page = await browser.http.get(started.headers["location"])
    assert factor_page.status_code == 200, factor_page.text[:500]
    fields = answer(factor_page.text) if callable(answer) else answer
    done = await browser.http.post(started.headers["location"], data={
        "csrf": form_field(factor_page.text, "csrf"), **fields})
    assert done.status_code == 303, done.text[:1000]
    assert done.headers["location"].startswith("/account/confirm/")
    return await browser.http.get(done.headers["location"])
