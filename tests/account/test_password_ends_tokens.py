"""A new password ends what the old one opened (issue 24 item 2): after a reset by e-mail, and
after a change on the account page, the person's refresh tokens no longer refresh, their access
tokens are inactive at /introspect and refused at /userinfo, and their other sessions end with
back-channel logout to the apps. A change on the account page keeps the browser that made it
signed in; what it is issued afterwards works. Embedded and production (slapd, Redis,
PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.account.test_account import post
from tests.account.test_password_reset import ask_for_link
from tests.mfa.browser import Browser, code_of, form_field
from tests.mfa.mailbox import Mailbox
from tests.mfa.people import Someone, new_person
from tests.oauth.flow import RegisteredClient, exchange, register
from tests.support.server import LiveIdp
from tests.web.receiver import Receiver, start_receiver

SCOPE = "openid offline_access"


async def app_with_backchannel(live: LiveIdp, receiver: Receiver) -> RegisteredClient:
    return await register(live, skip_consent=True,
                          backchannel_logout_uri=f"{receiver.base_url}/ok")


async def signed_in_with_tokens(live: LiveIdp, app: RegisteredClient,
                                person: Someone) -> tuple[Browser, dict[str, Any]]:
    browser = Browser.open(live)
    response = await browser.authorize(app, person, scope=SCOPE)
    tokens = await exchange(live, app, code_of(response))
    assert tokens.status_code == 200, tokens.text
    return browser, tokens.json()


async def still_works(live: LiveIdp, app: RegisteredClient, tokens: dict[str, Any]
                      ) -> dict[str, bool]:
    async with live.client() as http:
        introspected = await http.post("/introspect", data={"token": tokens["access_token"]},
                                       auth=app.basic)
        userinfo = await http.get("/userinfo", headers={
            "Authorization": f"Bearer {tokens['access_token']}"})
        refreshed = await http.post("/token", auth=app.basic, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    return {"introspect": introspected.json()["active"], "userinfo": userinfo.status_code == 200,
            "refresh": refreshed.status_code == 200}


async def told(receiver: Receiver, count: int) -> list[str]:
    """The back-channel logouts the app received, once `count` have arrived (a logout waits a
    few seconds for its deliveries, then lets them finish in the background: sso/logout.py)."""
    for _ in range(200):
        if len(receiver.received) >= count:
            break
        await asyncio.sleep(0.05)
    return [received.path for received in receiver.received]


NOTHING = {"introspect": False, "userinfo": False, "refresh": False}
EVERYTHING = {"introspect": True, "userinfo": True, "refresh": True}


def session_of(live: LiveIdp, browser: Browser) -> str:
    return str(browser.http.cookies[live.settings.session.cookie_name])


async def reset_by_email(live: LiveIdp, mailbox: Mailbox, person: Someone) -> None:
    await ask_for_link(live, person.username)
    link = (await mailbox.wait_for(person.email)).link(f"{live.settings.issuer}/account/reset/")
    browser = Browser.open(live)
    try:
        path = link.removeprefix(live.settings.issuer)
        page = await browser.http.get(path)
        person.password = "Reset-" + person.password
        done = await browser.http.post(path, data={
            "csrf": form_field(page.text, "csrf"), "new": person.password,
            "confirm": person.password})
        assert done.status_code == 200, done.text[:1000]
    finally:
        await browser.close()


async def test_a_reset_by_email_ends_tokens_and_sessions(live: LiveIdp, mailbox: Mailbox) -> None:
    receiver = await start_receiver()
    person, bystander = await new_person(live), await new_person(live)
    app = await app_with_backchannel(live, receiver)
    browser, tokens = await signed_in_with_tokens(live, app, person)
    theirs, their_tokens = await signed_in_with_tokens(live, app, bystander)
    try:
        sid = session_of(live, browser)
        assert await still_works(live, app, tokens) == EVERYTHING

        await reset_by_email(live, mailbox, person)

        assert await still_works(live, app, tokens) == NOTHING
        assert await live.services.sessions.get(sid) is None
        assert await told(receiver, 1) == ["/ok"]  # this person's one session
        assert await live.services.sessions.get(session_of(live, theirs)) is not None
        assert await still_works(live, app, their_tokens) == EVERYTHING
        _, fresh = await signed_in_with_tokens(live, app, person)  # at once, new password
        assert await still_works(live, app, fresh) == EVERYTHING
    finally:
        for opened in (browser, theirs):
            await opened.close()
        await receiver.stop()


async def change_on_the_account_page(browser: Browser, person: Someone) -> None:
    page = await browser.http.get("/account/password")
    assert page.status_code == 200, page.text[:500]
    new_password = "Changed-" + person.password
    changed = await post(browser, page, "/account/password", old=person.password,
                         new=new_password, confirm=new_password)
    assert changed.status_code == 303, changed.text[:1000]
    person.password = new_password


async def silent_code(browser: Browser, app: RegisteredClient) -> httpx.Response:
    """prompt=none: what single sign-on gives this browser right now."""
    return await browser.authorize(app, None, scope=SCOPE, prompt="none")


async def test_a_change_keeps_this_browser_and_ends_the_rest(live: LiveIdp) -> None:
    receiver = await start_receiver()
    person = await new_person(live)
    app = await app_with_backchannel(live, receiver)
    here, here_tokens = await signed_in_with_tokens(live, app, person)
    there, there_tokens = await signed_in_with_tokens(live, app, person)
    try:
        here_sid, there_sid = session_of(live, here), session_of(live, there)

        await change_on_the_account_page(here, person)

        for tokens in (here_tokens, there_tokens):
            assert await still_works(live, app, tokens) == NOTHING
        assert await live.services.sessions.get(there_sid) is None
        assert await live.services.sessions.get(here_sid) is not None
        assert await told(receiver, 1) == ["/ok"]  # the ended session's app; not this one's
        assert (await here.http.get("/account")).status_code == 200
        # this browser signs the app in again without a password; those tokens work
        again = await exchange(live, app, code_of(await silent_code(here, app)))
        assert again.status_code == 200, again.text
        assert await still_works(live, app, again.json()) == EVERYTHING
        assert "error=login_required" in (await silent_code(there, app)).headers["location"]
    finally:
        for opened in (here, there):
            await opened.close()
        await receiver.stop()
