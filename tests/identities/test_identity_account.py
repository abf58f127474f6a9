"""The account page's identities: the person sees their linked entries and which one each app
gets, changes it, or asks to be asked again; the site's own pages never ask which identity."""

from __future__ import annotations

import re

from tests.identities.conftest import LONE, STUDENT, TA, choose
from tests.identities.test_identity_oidc import app, params, subject_of, tokens
from tests.oauth.flow import Browser, form_field, verify_id_token
from tests.support.server import LiveIdp


def selected(page: str, client_id: str) -> str | None:
    block = page.split(f'data-identity-app="{client_id}"', 1)[1].split("</li>", 1)[0]
    found = re.search(r'<option value="([^"]*)" selected>', block)
    return found.group(1) if found else None


async def test_the_account_page_shows_and_changes_the_identity_per_app(
        live: LiveIdp, browser: Browser) -> None:
    client = await app(live)
    page = await browser.authorize(params(client), username=STUDENT.username,
                                   password=STUDENT.password)
    await choose(browser, page, TA.username)
    account = await browser.http.get("/account")
    assert account.status_code == 200
    assert "我的身份" in account.text or "My identities" in account.text
    listed = re.findall(r'<li data-identity="([^"]+)"', account.text)
    assert sorted(listed) == sorted([STUDENT.username, TA.username])
    assert TA.number in account.text and STUDENT.department in account.text
    ta, student = await subject_of(live, TA.username), await subject_of(live, STUDENT.username)
    assert selected(account.text, client.client_id) == ta

    csrf = form_field(account.text, "csrf")
    changed = await browser.http.post("/account/identities", data={
        "csrf": csrf, "client_id": client.client_id, "identity": student})
    assert changed.status_code == 303 and "account_identity_changed" in changed.headers[
        "location"]
    answer = await browser.authorize(params(client))
    assert "identity" not in browser.pages
    claims = await verify_id_token(live, (await tokens(live, client, answer))["id_token"],
                                   client.client_id)
    assert claims["sub"] == student

    # another person's entry is never made the default
    await browser.http.post("/account/identities", data={
        "csrf": csrf, "client_id": client.client_id,
        "identity": await subject_of(live, LONE.username)})
    assert selected((await browser.http.get("/account")).text, client.client_id) == student
    # a forged form changes nothing
    forged = await browser.http.post("/account/identities", data={
        "csrf": "forged", "client_id": client.client_id, "identity": ta})
    assert forged.status_code == 403
    assert selected((await browser.http.get("/account")).text, client.client_id) == student

    # "ask me each time": the choice page again
    await browser.http.post("/account/identities", data={
        "csrf": csrf, "client_id": client.client_id, "identity": ""})
    page = await browser.authorize(params(client))
    assert browser.pages == ["identity"]
    await choose(browser, page, TA.username)


async def test_the_sites_own_pages_never_ask_which_identity(live: LiveIdp,
                                                           browser: Browser) -> None:
    answer = await browser.visit("/account", username=TA.username, password=TA.password)
    assert "identity" not in browser.pages
    assert answer.status_code == 302 and "/account/callback" in answer.headers["location"]
    back = await browser.http.get(answer.headers["location"])
    assert back.status_code == 303 and back.headers["location"] == "/account"
    account = await browser.http.get("/account")
    assert account.status_code == 200 and TA.name in account.text


async def test_one_entry_no_identities_section(live: LiveIdp, browser: Browser) -> None:
    answer = await browser.visit("/account", username=LONE.username, password=LONE.password)
    await browser.http.get(answer.headers["location"])
    account = await browser.http.get("/account")
    assert account.status_code == 200 and 'id="identities"' not in account.text
