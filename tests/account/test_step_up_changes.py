"""Step-up for account changes (issue 24 item 3): adding or removing a factor, new recovery codes
and a password change need a session whose last check is recent and, once the person has a second
factor, used it. Real HTTP, embedded and production; the person's second session is a real
browser of its own."""

from __future__ import annotations

import json
import re
from dataclasses import asdict

import pyotp

from idp.mfa import recovery, totp
from tests.account.test_account import post, signed_in
from tests.mfa.authenticator import SoftAuthenticator
from tests.mfa.browser import Browser, attribute, form_field
from tests.mfa.helpers import (
    app_code,
    asked_again,
    confirm,
    is_mfa_page,
    plain_client,
    recovery_codes,
)
from tests.mfa.people import Someone, new_person
from tests.support.server import LiveIdp


async def subject_of(live: LiveIdp, person: Someone) -> str:
    found = await live.services.directory.find(person.username)
    assert found is not None
    return found.subject


async def age_session(live: LiveIdp, browser: Browser, seconds: int) -> None:
    """Make the browser's session `seconds` older, as if it had been open that long (the Store
    holds it as JSON; nothing else changes)."""
    sid = browser.http.cookies[live.settings.session.cookie_name]
    session = await live.services.sessions.get(sid)
    assert session is not None
    session.auth_time -= seconds
    session.created_at -= seconds
    await live.services.store.put(f"sso:{sid}", json.dumps(asdict(session)),
                                  live.services.sessions.ttl)


async def enrol_totp(browser: Browser) -> tuple[str, list[str]]:
    page = await browser.http.get("/account/mfa/totp")
    assert page.status_code == 200, page.text[:500]
    secret = attribute(page.text, "data-secret")
    shown = await post(browser, page, "/account/mfa/totp", code=pyotp.TOTP(secret).now())
    assert shown.status_code == 200, shown.text[:500]
    return secret, recovery_codes(shown.text)


async def test_an_older_password_session_cannot_remove_the_factor_of_a_newer_one(
        live: LiveIdp) -> None:
    """The issue's case: B signed in first (password only), A enrols an authenticator app; B
    can neither remove it nor make codes nor add a factor nor change the password, until B proves
    the factor."""
    person = await new_person(live)
    subject = await subject_of(live, person)
    b = await signed_in(live, person)
    a = await signed_in(live, person)
    try:
        secret, codes = await enrol_totp(a)
        assert len(codes) == 10

        account = await b.http.get("/account")
        assert asked_again(await post(b, account, "/account/mfa/totp/remove"))
        assert asked_again(await post(b, account, "/account/mfa/recovery"))
        assert asked_again(await b.http.get("/account/mfa/passkey"), "/account/mfa/passkey")
        assert asked_again(await b.http.get("/account/mfa/totp"), "/account/mfa/totp")
        assert asked_again(await b.http.get("/account/password"), "/account/password")
        new_password = "New-" + person.password
        assert asked_again(await post(b, account, "/account/password", old=person.password,
                                      new=new_password, confirm=new_password),
                           "/account/password")
        # nothing changed: the app, the same ten codes, the old password
        assert await totp.enrolled(live.services.db, subject)
        assert await recovery.remaining(live.services.db, subject) == 10
        await live.services.directory.authenticate(person.username, person.password)

        # B proves the factor (no password asked) and may then remove it
        back = await confirm(b, await post(b, account, "/account/mfa/totp/remove"),
                             {"method": "totp", "code": app_code(secret, steps_ahead=1)})
        assert back.status_code == 303
        assert back.headers["location"] == "/account?done=account_confirmed"
        account = await b.http.get(back.headers["location"])
        assert 'role="status"' in account.text
        removed = await post(b, account, "/account/mfa/totp/remove")
        assert removed.status_code == 303 and removed.headers["location"] == "/account?done=account_done"
        assert not await totp.enrolled(live.services.db, subject)
        # the last factor is gone, and its recovery codes with it
        assert await recovery.remaining(live.services.db, subject) == 0
        assert not await recovery.spend(live.services.db, subject, codes[0])
    finally:
        await a.close()
        await b.close()


async def test_a_password_only_person_enters_the_password_again(live: LiveIdp) -> None:
    person = await new_person(live)
    browser = await signed_in(live, person)
    try:
        await age_session(live, browser, live.settings.mfa.step_up_seconds + 60)
        refused = await browser.http.get("/account/mfa/totp")
        assert asked_again(refused, "/account/mfa/totp")
        # ... while the password form carries its own fresh password: no step-up for it
        assert (await browser.http.get("/account/password")).status_code == 200

        page = await browser.http.get(refused.headers["location"])
        started = await browser.http.post("/account/confirm", data={
            "csrf": form_field(page.text, "csrf"), "next": form_field(page.text, "next")})
        login = started.headers["location"]
        assert login.startswith("/login/")
        form = await browser.http.get(login)
        assert f'value="{person.username}"' in form.text  # who it is, already filled in
        wrong = await browser.http.post(login, data={
            "csrf": form_field(form.text, "csrf"), "username": person.username,
            "password": "not-" + person.password})
        assert wrong.status_code == 401
        assert asked_again(await browser.http.get("/account/mfa/totp"), "/account/mfa/totp")
        right = await browser.http.post(login, data={
            "csrf": form_field(form.text, "csrf"), "username": person.username,
            "password": person.password})
        assert right.status_code == 303 and right.headers["location"].startswith("/account/confirm/")
        back = await browser.http.get(right.headers["location"])
        assert back.headers["location"] == "/account/mfa/totp"
        assert (await browser.http.get("/account/mfa/totp")).status_code == 200
        # the sign-in is taken once: its resume link does nothing a second time
        again = await browser.http.get(right.headers["location"])
        assert again.headers["location"] == "/account"
    finally:
        await browser.close()


async def test_a_factor_session_too_old_is_asked_for_the_factor(live: LiveIdp) -> None:
    """With a factor, an old session with the factor is not enough either; the step-up is the
    second-factor page, and a passkey answers it as well as the app."""
    person = await new_person(live)
    authenticator = SoftAuthenticator(live.settings.issuer)
    browser = await signed_in(live, person)
    try:
        page = await browser.http.get("/account/mfa/passkey")
        options = json.loads(attribute(page.text, "data-options"))
        added = await browser.http.post("/account/mfa/passkey", data={
            "csrf": form_field(page.text, "csrf"), "credential": authenticator.create(options),
            "label": "my key"})
        assert added.status_code == 200 and len(recovery_codes(added.text)) == 10
        await age_session(live, browser, live.settings.mfa.step_up_seconds + 60)
        account = await browser.http.get("/account")
        key_id = attribute(account.text, "data-passkey")
        refused = await post(browser, account, "/account/mfa/passkey/remove", id=key_id)
        assert asked_again(refused)

        page = await browser.http.get(refused.headers["location"])
        started = await browser.http.post("/account/confirm", data={
            "csrf": form_field(page.text, "csrf"), "next": "/account"})
        mfa = await browser.http.get(started.headers["location"])
        assert is_mfa_page(mfa) and 'name="password"' not in mfa.text
        options = json.loads(attribute(mfa.text, "data-options"))
        done = await browser.http.post(started.headers["location"], data={
            "csrf": form_field(mfa.text, "csrf"), "method": "passkey",
            "credential": authenticator.get(options)})
        back = await browser.http.get(done.headers["location"])
        account = await browser.http.get(back.headers["location"])
        removed = await post(browser, account, "/account/mfa/passkey/remove", id=key_id)
        assert removed.status_code == 303 and "done=account_done" in removed.headers["location"]
        assert "my key" not in (await browser.http.get("/account")).text
    finally:
        await browser.close()


async def test_removing_one_of_two_factors_keeps_the_recovery_codes(live: LiveIdp) -> None:
    person = await new_person(live)
    subject = await subject_of(live, person)
    authenticator = SoftAuthenticator(live.settings.issuer)
    browser = await signed_in(live, person)
    try:
        secret, codes = await enrol_totp(browser)
    finally:
        await browser.close()
    # a sign-in with the app (the login asks for it now): recent, and with the factor
    login = Browser.open(live)
    try:
        mfa = await login.authorize(await plain_client(live), person)
        assert is_mfa_page(mfa)
        signed = await login.submit(mfa, {"method": "totp", "code": app_code(secret, steps_ahead=1)})
        assert signed.status_code == 302
        page = await login.http.get("/account/mfa/passkey")
        options = json.loads(attribute(page.text, "data-options"))
        added = await login.http.post("/account/mfa/passkey", data={
            "csrf": form_field(page.text, "csrf"), "credential": authenticator.create(options),
            "label": "spare key"})
        assert added.status_code == 303  # codes exist already: none made, none shown
        account = await login.http.get("/account")
        assert (await post(login, account, "/account/mfa/totp/remove")).status_code == 303
        assert await recovery.remaining(live.services.db, subject) == 10  # a key is left
        key_id = attribute(account.text, "data-passkey")
        assert (await post(login, account, "/account/mfa/passkey/remove",
                           id=key_id)).status_code == 303
        assert await recovery.remaining(live.services.db, subject) == 0  # the last one went
        assert not await recovery.spend(live.services.db, subject, codes[1])
    finally:
        await login.close()


async def test_the_page_says_why_in_both_languages(live: LiveIdp) -> None:
    person = await new_person(live)
    browser = await signed_in(live, person)
    try:
        await enrol_totp(browser)
        await age_session(live, browser, live.settings.mfa.step_up_seconds + 60)
        minutes = live.settings.mfa.step_up_seconds // 60
        for locale, words in (
                ("zh", ["请确认是您本人", f"最近 {minutes} 分钟内用两步验证确认过身份"]),
                ("en", ["Confirm it is you", f"within the last {minutes} minutes",
                        "no password needed"])):
            page = await browser.http.get("/account/confirm", params={
                "next": "/account", "ui_locales": locale})
            assert page.status_code == 200
            assert all(word in page.text for word in words), (locale, page.text[:2000])
            account = await browser.http.get("/account", params={"ui_locales": locale})
            note = re.search(r'id="step-up-note">([^<]+)<', account.text)
            assert note and str(minutes) in note.group(1)
            assert ("再次确认身份" if locale == "zh" else "confirm it is you again") in note.group(1)
        # a next that leaves the account pages is ignored
        away = await browser.http.get("/account/confirm", params={"next": "https://evil.example/"})
        assert form_field(away.text, "next") == "/account"
    finally:
        await browser.close()
