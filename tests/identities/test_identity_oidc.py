"""Several identities, one person, through OpenID Connect (idp/sso/identities.py), on both
backend sets: the choice page after either entry's own password, the choice remembered per app,
prompt=select_account, prompt=none, the access rule picking the identity, and the app receiving
exactly the chosen entry (ID token, userinfo, refresh)."""

from __future__ import annotations

import secrets

import httpx
from sqlalchemy import select

from idp.admin.service_clients import set_access_rule
from idp.db.models import AuditEvent, IdentityDefault
from idp.sso.access import checked_rule
from tests.identities.conftest import LAB_ADMIN, LAB_STUDENT, LONE, STUDENT, TA, choose, offered
from tests.oauth.flow import (
    REDIRECT,
    Browser,
    RegisteredClient,
    exchange,
    form_field,
    query_of,
    register,
    verify_id_token,
)
from tests.support.server import LiveIdp


def params(client: RegisteredClient, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
            "scope": "openid profile offline_access", "state": secrets.token_urlsafe(8),
            **extra}


async def app(live: LiveIdp, **rule: list[str]) -> RegisteredClient:
    client = await register(live, name="研究生系统 Graduate school " + secrets.token_hex(2),
                            skip_consent=True)
    if rule:
        await set_access_rule(live.services.db, client.client_id,
                              checked_rule(rule.get("groups", []), rule.get("affiliations", [])))
    return client


async def tokens(live: LiveIdp, client: RegisteredClient, answer: httpx.Response) -> dict:
    assert answer.status_code == 302, answer.text[:500]
    code = query_of(answer.headers["location"])["code"]
    response = await exchange(live, client, code)
    assert response.status_code == 200, response.text
    return response.json()


async def userinfo(live: LiveIdp, access_token: str) -> dict:
    async with live.client() as http:
        response = await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    return response.json()


async def subject_of(live: LiveIdp, username: str) -> str:
    person = await live.services.directory.find(username)
    assert person is not None
    return person.subject


async def test_the_choice_page_then_the_app_gets_exactly_the_chosen_entry(
        live: LiveIdp, browser: Browser) -> None:
    client = await app(live)
    page = await browser.authorize(params(client), username=STUDENT.username,
                                   password=STUDENT.password)
    assert browser.pages[-1] == "identity"
    # both identities, with what tells them apart: name, affiliation, number, department
    assert set(offered(page)) == {STUDENT.username, TA.username}
    for entry in (STUDENT, TA):
        for shown in (entry.name, entry.affiliation, entry.number, entry.department):
            assert shown in page.text
    answer = await choose(browser, page, TA.username)
    issued = await tokens(live, client, answer)
    ta_subject = await subject_of(live, TA.username)
    claims = await verify_id_token(live, issued["id_token"], client.client_id)
    assert claims["sub"] == ta_subject
    assert claims["name"] == TA.name and claims["preferred_username"] == TA.username
    info = await userinfo(live, issued["access_token"])
    assert info["sub"] == ta_subject and info["name"] == TA.name
    # refresh keeps the identity chosen
    async with live.client() as http:
        refreshed = await http.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
            auth=client.basic)
    assert refreshed.status_code == 200, refreshed.text
    again = await verify_id_token(live, refreshed.json()["id_token"], client.client_id)
    assert again["sub"] == ta_subject and again["name"] == TA.name
    # the choice is audited and remembered durably, for the entry signed in with and this app
    async with live.services.db() as db:
        events = list((await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "identity", AuditEvent.client_id == client.client_id))).scalars())
        rows = list((await db.execute(select(IdentityDefault).where(
            IdentityDefault.client_id == client.client_id))).scalars())
    assert [(e.outcome, e.actor, e.detail.get("identity")) for e in events] == [
        ("chosen", STUDENT.username, TA.username)]
    assert [(r.subject, r.chosen) for r in rows] == [
        (await subject_of(live, STUDENT.username), ta_subject)]


async def test_the_choice_is_remembered_whichever_entry_signs_in(live: LiveIdp) -> None:
    client = await app(live)
    first = Browser.open(live)
    try:
        page = await first.authorize(params(client), username=STUDENT.username,
                                     password=STUDENT.password)
        await choose(first, page, TA.username)
        # the same browser, the same app: no page at all
        again = await first.authorize(params(client))
        assert again.status_code == 302 and first.pages == []
    finally:
        await first.close()
    # another browser, the other entry's own password: the default follows the person
    second = Browser.open(live)
    try:
        answer = await second.authorize(params(client), username=TA.username,
                                        password=TA.password)
        assert "identity" not in second.pages
        claims = await verify_id_token(live, (await tokens(live, client, answer))["id_token"],
                                       client.client_id)
        assert claims["sub"] == await subject_of(live, TA.username)
    finally:
        await second.close()


async def test_prompt_select_account_asks_again_and_the_new_choice_sticks(
        live: LiveIdp, browser: Browser) -> None:
    client = await app(live)
    page = await browser.authorize(params(client), username=TA.username, password=TA.password)
    await choose(browser, page, TA.username)
    page = await browser.authorize(params(client, prompt="select_account"))
    assert browser.pages == ["identity"]  # no password again: only the choice
    answer = await choose(browser, page, STUDENT.username)
    claims = await verify_id_token(live, (await tokens(live, client, answer))["id_token"],
                                   client.client_id)
    assert claims["sub"] == await subject_of(live, STUDENT.username)
    plain = await browser.authorize(params(client))
    claims = await verify_id_token(live, (await tokens(live, client, plain))["id_token"],
                                   client.client_id)
    assert claims["sub"] == await subject_of(live, STUDENT.username)


async def test_prompt_none_without_a_choice_is_account_selection_required(
        live: LiveIdp, browser: Browser) -> None:
    signed_in = await app(live)
    page = await browser.authorize(params(signed_in), username=STUDENT.username,
                                   password=STUDENT.password)
    await choose(browser, page, STUDENT.username)
    other = await app(live)  # never chosen for
    silent = await browser.http.get("/authorize", params=params(other, prompt="none"))
    assert silent.status_code == 302
    assert query_of(silent.headers["location"])["error"] == "account_selection_required"


async def test_an_access_rule_picks_the_identity_without_asking(
        live: LiveIdp, browser: Browser) -> None:
    staff_only = await app(live, affiliations=["staff"])
    # signed in with the student entry's password; the app is for staff: the TA identity
    answer = await browser.authorize(params(staff_only), username=STUDENT.username,
                                     password=STUDENT.password)
    assert "identity" not in browser.pages
    claims = await verify_id_token(live, (await tokens(live, staff_only, answer))["id_token"],
                                   staff_only.client_id)
    assert claims["sub"] == await subject_of(live, TA.username)
    # even prompt=select_account has nothing to choose among
    again = await browser.authorize(params(staff_only, prompt="select_account"))
    assert again.status_code == 302 and "identity" not in browser.pages


async def test_nobody_signs_in_with_the_other_entrys_password(live: LiveIdp,
                                                             browser: Browser) -> None:
    client = await app(live)
    start = await browser.http.get("/authorize", params=params(client))
    login = start.headers["location"]
    page = await browser.http.get(login)
    for username, password in ((TA.username, STUDENT.password),
                               (STUDENT.username, TA.password)):
        refused = await browser.http.post(login, data={
            "csrf": form_field(page.text, "csrf"), "username": username, "password": password})
        assert refused.status_code == 401 and "location" not in refused.headers
    assert await live.services.sessions.get(browser.http.cookies.get("idp_session")) is None


async def test_a_person_with_one_entry_never_sees_the_page(live: LiveIdp,
                                                          browser: Browser) -> None:
    client = await app(live)
    answer = await browser.authorize(params(client), username=LONE.username,
                                     password=LONE.password)
    assert answer.status_code == 302 and "identity" not in browser.pages


async def test_only_an_offered_identity_is_accepted(live: LiveIdp, browser: Browser) -> None:
    client = await app(live)
    page = await browser.authorize(params(client), username=STUDENT.username,
                                   password=STUDENT.password)
    path = str(page.url.path)
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    lone = await subject_of(live, LONE.username)
    for wrong in (lone, "", "x" * 5000):
        refused = await browser.http.post(path, data={"csrf": token, "identity": wrong})
        assert refused.status_code == 400 and "location" not in refused.headers
    # the other pages of the sign-in send the browser to the one it is parked at
    for other in ("/login/", "/consent/"):
        sent = await browser.http.get(path.replace("/identity/", other))
        assert sent.status_code == 303 and sent.headers["location"] == path
    forged = await browser.http.post(path, data={"csrf": "forged",
                                                 "identity": offered(page)[TA.username]})
    assert forged.status_code == 403
    # another browser (no session) cannot answer this person's choice
    stranger = Browser.open(live)
    try:
        other = await stranger.http.get(path)
        assert other.status_code == 400
    finally:
        await stranger.close()
    answer = await choose(browser, page, TA.username)
    assert answer.status_code == 302


async def test_outside_the_rule_with_every_identity_is_refused(live: LiveIdp,
                                                              browser: Browser) -> None:
    admins_only = await app(live, groups=["idp-admins"])
    refused = await browser.authorize(params(admins_only), username=STUDENT.username,
                                      password=STUDENT.password)
    assert refused.status_code == 403 and "location" not in refused.headers
    assert "identity" not in browser.pages
    async with live.services.db() as db:
        events = list((await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "access", AuditEvent.client_id == admins_only.client_id)
        )).scalars())
    assert [(e.outcome, e.actor) for e in events] == [("denied", STUDENT.username)]


async def test_the_consent_page_names_the_identity_chosen(live: LiveIdp,
                                                         browser: Browser) -> None:
    asks = await register(live, name="校外合作平台 Partner " + secrets.token_hex(2))
    page = await browser.authorize(params(asks, scope="openid profile"),
                                   username=STUDENT.username, password=STUDENT.password)
    chosen = await browser.http.post(str(page.url.path), data={
        "csrf": form_field(page.text, "csrf"), "identity": offered(page)[TA.username]})
    resumed = await browser.http.get(chosen.headers["location"])
    assert resumed.headers["location"].startswith("/consent/")
    consent = await browser.http.get(resumed.headers["location"])
    assert TA.name in consent.text and STUDENT.name not in consent.text
    answer = await browser.walk(resumed)
    assert browser.pages == ["consent"]  # the choice was not asked again
    claims = await verify_id_token(live, (await tokens(live, asks, answer))["id_token"],
                                   asks.client_id)
    assert claims["sub"] == await subject_of(live, TA.username)


async def test_an_identity_that_needs_a_second_factor_gets_it(live: LiveIdp) -> None:
    client = await app(live)
    for choice, page_after in ((LAB_ADMIN, "mfa"), (LAB_STUDENT, None)):
        browser = Browser.open(live)
        try:
            # (select_account: the first round remembered the lab identity for the app)
            page = await browser.authorize(params(client, prompt="select_account"),
                                           username=LAB_STUDENT.username,
                                           password=LAB_STUDENT.password)
            answer = await choose(browser, page, choice.username)
            if page_after:
                # the lab entry's group requires a second factor the password did not give
                assert browser.pages[-1] == "mfa" and answer.status_code == 200
            else:
                assert answer.status_code == 302 and "mfa" not in browser.pages
        finally:
            await browser.close()
