"""A person resets a forgotten password through a one-time link sent by e-mail (a real SMTP
server started by the tests), then signs in with the new password. Embedded (local directory)
and production (slapd through the LDAP admin bind, Redis, PostgreSQL)."""

from __future__ import annotations

import asyncio
import re

from tests.mfa.browser import Browser, form_field, id_token_claims
from tests.mfa.helpers import plain_client
from tests.mfa.mailbox import Mailbox
from tests.mfa.people import Someone, new_person
from tests.support.server import LiveIdp


async def ask_for_link(live: LiveIdp, who: str) -> str:
    """Fill in /account/forgot; returns the answer page's text."""
    browser = Browser.open(live)
    try:
        page = await browser.http.get("/account/forgot")
        assert page.status_code == 200
        answer = await browser.http.post("/account/forgot", data={
            "csrf": form_field(page.text, "csrf"), "who": who, "ui_locales": "en"})
        assert answer.status_code == 200
        return answer.text
    finally:
        await browser.close()


def without_tokens(page: str) -> str:
    return re.sub(r'value="[A-Za-z0-9_-]{43}"', 'value=""', page)


async def sign_in(live: LiveIdp, person: Someone) -> int:
    browser = Browser.open(live)
    try:
        client = await plain_client(live)
        response = await browser.authorize(client, person)
        if response.status_code == 302:
            claims = await id_token_claims(live, client, response)
            assert claims["preferred_username"] == person.username
        return response.status_code
    finally:
        await browser.close()


async def test_a_forgotten_password_is_reset_by_email(live: LiveIdp, mailbox: Mailbox) -> None:
    person = await new_person(live)
    before = Browser.open(live)  # a session from before the reset: it will be ended
    assert (await before.authorize(await plain_client(live), person)).status_code == 302
    cookie = before.http.cookies[live.settings.session.cookie_name]

    answer = await ask_for_link(live, person.username)
    assert "If the account exists" in answer
    mail = await mailbox.wait_for(person.email)
    assert mail.message["From"] == "idp@example.edu"
    assert "Reset your" in mail.message["Subject"]
    link = mail.link(f"{live.settings.issuer}/account/reset/")
    path = link.removeprefix(live.settings.issuer)

    browser = Browser.open(live)
    try:
        page = await browser.http.get(path)
        assert page.status_code == 200 and person.username in page.text
        new_password = "Reset-" + person.password
        mismatch = await browser.http.post(path, data={
            "csrf": form_field(page.text, "csrf"), "new": new_password, "confirm": "other"})
        assert mismatch.status_code == 400  # and the link still works:
        done = await browser.http.post(path, data={
            "csrf": form_field(page.text, "csrf"), "new": new_password, "confirm": new_password})
        assert done.status_code == 200, done.text[:1000]
        again = await browser.http.get(path)
        assert again.status_code == 400  # one use only
    finally:
        await browser.close()

    assert await live.services.sessions.get(cookie) is None  # signed out everywhere
    await before.close()
    assert await sign_in(live, person) == 401  # the old password no longer works
    person.password = new_password
    assert await sign_in(live, person) == 302


async def test_the_answer_never_tells_who_has_an_account(live: LiveIdp, mailbox: Mailbox) -> None:
    person = await new_person(live)
    unknown = f"nobody{person.username}"
    known_answer = await ask_for_link(live, person.email)  # by e-mail address, too
    unknown_answer = await ask_for_link(live, unknown)
    assert without_tokens(known_answer) == without_tokens(unknown_answer)
    mail = await mailbox.wait_for(person.email)
    assert person.username in mail.body
    await asyncio.sleep(0.5)
    assert mailbox.to(f"{unknown}@example.edu") == []


async def test_only_the_newest_link_works(live: LiveIdp, mailbox: Mailbox) -> None:
    person = await new_person(live)
    await ask_for_link(live, person.username)
    first = (await mailbox.wait_for(person.email)).link(f"{live.settings.issuer}/account/reset/")
    await ask_for_link(live, person.username)
    second = (await mailbox.wait_for(person.email, count=2)).link(
        f"{live.settings.issuer}/account/reset/")
    assert first != second
    async with live.client() as http:
        assert (await http.get(first.removeprefix(live.settings.issuer))).status_code == 400
        assert (await http.get(second.removeprefix(live.settings.issuer))).status_code == 200
        assert (await http.get("/account/reset/not-a-real-token")).status_code == 400
