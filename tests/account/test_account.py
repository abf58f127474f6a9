"""The self-service account page: sign in to reach it, change the password, manage second
factors, see and end sessions, see and revoke consents. Real HTTP; embedded and production."""

from __future__ import annotations

import re

import httpx
import pyotp
from sqlalchemy import select

from idp.db.models import Consent
from tests.mfa.browser import Browser, attribute, code_of, form_field, id_token_claims
from tests.mfa.helpers import (
    app_code,
    asked_again,
    confirm,
    is_mfa_page,
    mfa_client,
    plain_client,
    recovery_codes,
)
from tests.mfa.people import Someone, new_person
from tests.oauth.flow import REDIRECT, register
from tests.support.server import LiveIdp


async def signed_in(live: LiveIdp, person: Someone) -> Browser:
    browser = Browser.open(live)
    response = await browser.authorize(await plain_client(live), person)
    assert response.status_code == 302, response.text[:1000]
    return browser


def sessions_listed(page: str) -> list[str]:
    return re.findall(r'data-session="([^"]+)"', page)


async def post(browser: Browser, page: httpx.Response, path: str, **data: str) -> httpx.Response:
    return await browser.http.post(path, data={"csrf": form_field(page.text, "csrf"), **data})


async def test_without_a_session_the_page_signs_in_and_comes_back(live: LiveIdp) -> None:
    person = await new_person(live)
    browser = Browser.open(live)
    try:
        response = await browser.http.get("/account/password")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/authorize?")
        # the real login page, then the account client's callback, then the page asked for
        callback = await browser.walk(response, person)
        assert callback.status_code == 302, browser.pages
        assert callback.headers["location"].startswith(f"{live.settings.issuer}/account/callback")
        back = await browser.http.get(callback.headers["location"].removeprefix(
            live.settings.issuer))
        assert back.status_code == 303 and back.headers["location"] == "/account/password"
        page = await browser.http.get("/account")
        assert page.status_code == 200 and f"Test {person.username}" in page.text
        # a callback without this browser's state cookie goes nowhere
        async with live.client() as stranger:
            lost = await stranger.get(callback.headers["location"].removeprefix(
                live.settings.issuer))
        assert lost.status_code == 400
    finally:
        await browser.close()


async def test_sessions_are_listed_and_any_can_be_signed_out(live: LiveIdp) -> None:
    person, stranger = await new_person(live), await new_person(live)
    here, there, theirs = (await signed_in(live, person), await signed_in(live, person),
                           await signed_in(live, stranger))
    cookie = live.settings.session.cookie_name
    try:
        page = await here.http.get("/account")
        assert page.status_code == 200
        mine = {here.http.cookies[cookie], there.http.cookies[cookie]}
        assert set(sessions_listed(page.text)) == mine
        # someone else's session id is not mine to end
        other_sid = theirs.http.cookies[cookie]
        assert (await post(here, page, "/account/sessions/end", sid=other_sid)).status_code == 303
        assert await live.services.sessions.get(other_sid) is not None
        # the other device of mine is signed out
        ended = await post(here, page, "/account/sessions/end", sid=there.http.cookies[cookie])
        assert ended.status_code == 303
        assert await live.services.sessions.get(there.http.cookies[cookie]) is None
        page = await here.http.get("/account")
        assert sessions_listed(page.text) == [here.http.cookies[cookie]]
        # and this one: signed out, sent to the signed-out page
        mine_sid = here.http.cookies[cookie]
        ended = await post(here, page, "/account/sessions/end", sid=mine_sid)
        assert ended.status_code == 303 and ended.headers["location"] == "/logout/done"
        assert await live.services.sessions.get(mine_sid) is None
    finally:
        for browser in (here, there, theirs):
            await browser.close()


async def test_forms_without_the_csrf_token_change_nothing(live: LiveIdp) -> None:
    person = await new_person(live)
    browser, victim_device = await signed_in(live, person), await signed_in(live, person)
    cookie = live.settings.session.cookie_name
    try:
        await browser.http.get("/account")
        sid = victim_device.http.cookies[cookie]
        for data in ({"sid": sid}, {"sid": sid, "csrf": "x" * 43}):
            refused = await browser.http.post("/account/sessions/end", data=data)
            assert refused.status_code == 403
        assert await live.services.sessions.get(sid) is not None
    finally:
        await browser.close()
        await victim_device.close()


async def test_revoking_a_consent_revokes_the_apps_refresh_tokens(live: LiveIdp) -> None:
    person = await new_person(live)
    client = await register(live, name="选课系统 Course selection (test)")  # asks for consent
    browser = Browser.open(live)
    try:
        response = await browser.authorize(client, person, scope="openid profile offline_access")
        assert any(p.startswith("/consent/") for p in browser.pages)
        async with live.client() as http:
            tokens = await http.post("/token", auth=client.basic, data={
                "grant_type": "authorization_code", "code": code_of(response),
                "redirect_uri": REDIRECT})
            assert tokens.status_code == 200, tokens.text
            refresh = tokens.json()["refresh_token"]
        page = await browser.http.get("/account")
        assert attribute(page.text, "data-consent") == client.client_id
        assert 'data-scope="offline_access"' in page.text
        revoked = await post(browser, page, "/account/consents/revoke", client_id=client.client_id)
        assert revoked.status_code == 303
        found = await live.services.directory.find(person.username)
        assert found is not None
        async with live.services.db() as db:
            left = await db.scalar(select(Consent).where(
                Consent.subject == found.subject, Consent.client_id == client.client_id))
        assert left is None
        async with live.client() as http:
            refused = await http.post("/token", auth=client.basic, data={
                "grant_type": "refresh_token", "refresh_token": refresh})
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        # the app must ask again
        await browser.authorize(client, person, scope="openid profile")
        assert any(p.startswith("/consent/") for p in browser.pages)
    finally:
        await browser.close()


async def test_change_password(live: LiveIdp) -> None:
    person = await new_person(live)
    browser = await signed_in(live, person)
    new_password = "New-" + person.password
    try:
        page = await browser.http.get("/account/password")
        assert page.status_code == 200
        wrong = await post(browser, page, "/account/password", old="not-my-password",
                           new=new_password, confirm=new_password)
        assert wrong.status_code == 401 and 'role="alert"' in wrong.text
        mismatch = await post(browser, page, "/account/password", old=person.password,
                              new=new_password, confirm=new_password + "x")
        assert mismatch.status_code == 400
        changed = await post(browser, page, "/account/password", old=person.password,
                             new=new_password, confirm=new_password)
        assert changed.status_code == 303, changed.text[:1000]
        assert changed.headers["location"] == "/account?done=account_password_changed"
    finally:
        await browser.close()
    client = await plain_client(live)
    old = Browser.open(live)
    try:
        refused = await old.authorize(client, person)
        assert refused.status_code == 401
    finally:
        await old.close()
    person.password = new_password
    fresh = Browser.open(live)
    try:
        assert (await fresh.authorize(client, person)).status_code == 302
    finally:
        await fresh.close()


async def test_manage_the_authenticator_app_and_recovery_codes(live: LiveIdp) -> None:
    person = await new_person(live)
    browser = await signed_in(live, person)
    try:
        page = await browser.http.get("/account/mfa/totp")
        secret = attribute(page.text, "data-secret")
        wrong = await post(browser, page, "/account/mfa/totp", code="000000"
                           if pyotp.TOTP(secret).now() != "000000" else "111111")
        assert wrong.status_code == 400
        shown = await post(browser, page, "/account/mfa/totp", code=pyotp.TOTP(secret).now())
        first_codes = recovery_codes(shown.text)
        assert len(first_codes) == 10
        account = await browser.http.get("/account")
        assert 'data-totp="on"' in account.text and 'data-recovery-left="10"' in account.text
        # new codes need the new factor (this session proved only the password): a recovery
        # code proves it too (the app's next code is kept for the login below)
        refused = await post(browser, account, "/account/mfa/recovery")
        assert asked_again(refused)
        back = await confirm(browser, refused, {"method": "recovery", "code": first_codes[1]})
        account = await browser.http.get(back.headers["location"])
        renewed = await post(browser, account, "/account/mfa/recovery")
        new_codes = recovery_codes(renewed.text)
        assert len(new_codes) == 10 and not set(new_codes) & set(first_codes)
    finally:
        await browser.close()
    client = await mfa_client(live)
    for code, expected in ((first_codes[0], 401), (new_codes[0], 302)):
        login = Browser.open(live)
        try:
            page = await login.authorize(client, person)
            assert is_mfa_page(page)
            answer = await login.submit(page, {"method": "recovery", "code": code})
            assert answer.status_code == expected
        finally:
            await login.close()
    # the app works at a login, then it is removed
    login = Browser.open(live)
    try:
        page = await login.authorize(client, person)
        done = await login.submit(page, {"method": "totp", "code": app_code(secret, steps_ahead=1)})
        assert (await id_token_claims(live, client, done))["amr"] == ["pwd", "otp"]
        account = await login.http.get("/account")
        removed = await post(login, account, "/account/mfa/totp/remove")
        assert removed.status_code == 303
        assert 'data-totp="off"' in (await login.http.get("/account")).text
    finally:
        await login.close()


async def test_no_recovery_codes_before_a_second_factor_and_devices_in_words(
        live: LiveIdp) -> None:
    from idp.mfa import recovery

    person = await new_person(live)
    browser = Browser.open(live)
    browser.http.headers["user-agent"] = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36")
    try:
        response = await browser.authorize(await plain_client(live), person)
        assert response.status_code == 302, response.text[:1000]
        account = await browser.http.get("/account")
        assert "data-recovery-left" not in account.text
        assert "/account/mfa/recovery" not in account.text
        assert "Chrome · Linux" in account.text
        # the form, sent anyway, makes nothing
        sent = await post(browser, account, "/account/mfa/recovery")
        assert sent.status_code == 303 and sent.headers["location"].startswith("/account")
        found = await live.services.directory.find(person.username)
        assert found is not None
        assert await recovery.remaining(live.services.db, found.subject) == 0
    finally:
        await browser.close()
