"""Consent per scope, through real HTTP on both backend sets (local directory, in-process store,
SQLite; slapd, Redis, PostgreSQL): an unticked scope's claims reach the app nowhere (ID token,
userinfo, token scope, introspection, not even through the claims parameter); the same request
later reuses the answer, a request for more asks again with the earlier choices; required
scopes cannot be unticked, and a tampered form gets a readable 400 that changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from idp.db.models import AuditEvent, Consent
from idp.protocols.oidc.policy import save_consent
from idp.protocols.oidc.required_scopes import set_required_scopes
from tests.consent.flow import (
    answer,
    consent_page,
    finish,
    introspect,
    params,
    redeem,
    redirect_params,
    start,
    userinfo,
)
from tests.oauth.flow import Browser, RegisteredClient, register, verify_id_token
from tests.support.server import LiveIdp

EMAIL_CLAIMS = ("email", "email_verified")


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    name = "live_idp" if request.param == "embedded" else "live_idp_production"
    return request.getfixturevalue(name)


@pytest.fixture
async def browser(live: LiveIdp) -> AsyncIterator[Browser]:
    opened = Browser.open(live)
    yield opened
    await opened.close()


@pytest.fixture
async def client(live: LiveIdp) -> RegisteredClient:
    """A third-party app (it asks for consent), new for every test: no earlier answers."""
    return await register(live, name="图书馆 Library (test)")


async def stored(live: LiveIdp, client: RegisteredClient) -> Consent | None:
    student = await live.services.directory.find("student")
    assert student is not None
    async with live.services.db() as db:
        return await db.scalar(select(Consent).where(
            Consent.subject == student.subject, Consent.client_id == client.client_id))


async def test_an_unticked_scope_is_released_nowhere(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    # the claims parameter asks for the e-mail address by name, in both places
    claims = json.dumps({"id_token": {"email": {"essential": True}}, "userinfo": {"email": None}})
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email", claims=claims)))
    assert shown.required == ["openid"]
    assert shown.boxes == {"profile": True, "email": True}
    assert 'data-scope="openid" data-required="1"' in shown.page.text

    tokens = await redeem(live, client, await finish(browser, await answer(
        browser, shown, untick=("email",))))

    assert tokens["scope"] == "openid profile"
    id_token = await verify_id_token(live, tokens["id_token"], client.client_id)
    assert id_token["preferred_username"] == "student"
    assert not set(EMAIL_CLAIMS) & set(id_token)
    info = await userinfo(live, tokens["access_token"])
    assert info["preferred_username"] == "student" and not set(EMAIL_CLAIMS) & set(info)
    described = await introspect(live, client, tokens["access_token"])
    assert described["active"] and described["scope"] == "openid profile"
    record = await stored(live, client)
    assert record is not None and record.scopes == ["openid", "profile"]
    assert record.declined == ["email"]


async def test_the_same_request_reuses_the_answer_and_more_asks_again(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email")))
    await finish(browser, await answer(browser, shown, untick=("email",)))

    # the same scopes (or fewer): no page, and still only what was granted
    again = await start(browser, params(client, "openid profile email"))
    tokens = await redeem(live, client, redirect_params(again))
    assert tokens["scope"] == "openid profile"
    fewer = await redeem(live, client, redirect_params(
        await start(browser, params(client, "openid email"))))
    assert fewer["scope"] == "openid"

    # one scope more: the page again, the earlier "no" still unticked, the new scope ticked
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email phone")))
    assert shown.boxes == {"profile": True, "email": False, "phone": True}
    tokens = await redeem(live, client, await finish(browser, await answer(browser, shown)))
    assert tokens["scope"] == "openid profile phone"
    info = await userinfo(live, tokens["access_token"])
    assert "phone_number" in info and "email" not in info
    record = await stored(live, client)
    assert record is not None and record.declined == ["email"]

    # prompt=consent asks even so; ticking the e-mail now releases it from then on
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email", prompt="consent")))
    assert shown.boxes == {"profile": True, "email": False}
    tokens = await redeem(live, client, await finish(browser, await answer(
        browser, shown, tick=("email",))))
    assert tokens["scope"] == "openid profile email"
    id_token = await verify_id_token(live, tokens["id_token"], client.client_id)
    assert id_token["email"] == "student@example.edu"
    record = await stored(live, client)
    assert record is not None and record.declined == []
    assert record.scopes == ["email", "openid", "phone", "profile"]


async def test_offline_access_unticked_means_no_refresh_token(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile offline_access")))
    tokens = await redeem(live, client, await finish(browser, await answer(
        browser, shown, untick=("offline_access",))))
    assert tokens["scope"] == "openid profile" and "refresh_token" not in tokens


async def test_a_refresh_cannot_win_back_an_unticked_scope(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email offline_access")))
    tokens = await redeem(live, client, await finish(browser, await answer(
        browser, shown, untick=("email",))))
    async with live.client() as http:
        wider = await http.post("/token", auth=client.basic, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "scope": "openid profile email offline_access"})
        assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
        same = await http.post("/token", auth=client.basic, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert same.status_code == 200, same.text
    assert same.json()["scope"] == "openid profile offline_access"
    info = await userinfo(live, same.json()["access_token"])
    assert "email" not in info


async def test_prompt_none_after_a_partial_answer_needs_no_page(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email")))
    await finish(browser, await answer(browser, shown, untick=("profile",)))
    silent = redirect_params(await start(browser, params(
        client, "openid profile email", prompt="none")))
    assert (await redeem(live, client, silent))["scope"] == "openid email"
    more = redirect_params(await start(browser, params(
        client, "openid profile email phone", prompt="none")))
    assert more["error"] == "consent_required"


async def test_a_required_scope_is_marked_and_cannot_be_unticked(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    assert await set_required_scopes(live.services.db, client.client_id,
                                     ["email", "openid"]) == ["email"]
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email")), ui_locales="en")
    assert shown.required == ["openid", "email"] and shown.boxes == {"profile": True}
    assert "cannot work without this" in shown.page.text
    assert "signing in needs this" in shown.page.text

    tampered = await answer(browser, shown, drop=("email",))
    assert tampered.status_code == 400
    assert "requires “Your email address”: it cannot be unticked" in tampered.text
    added = await answer(browser, shown, tick=("groups",))
    assert added.status_code == 400
    assert "did not ask for “The groups you belong to”" in added.text
    zh = await answer(browser, shown, drop=("openid",), locale="zh")
    assert zh.status_code == 400 and "不能取消勾选" in zh.text
    assert await stored(live, client) is None  # nothing was written

    async with live.services.db() as db:
        refused = list((await db.scalars(select(AuditEvent).where(
            AuditEvent.kind == "consent", AuditEvent.outcome == "invalid_choice",
            AuditEvent.client_id == client.client_id))).all())
    assert sorted(e.detail["scope"] for e in refused) == ["email", "groups", "openid"]

    # the sign-in is still waiting: the person's real answer goes through
    tokens = await redeem(live, client, await finish(browser, await answer(
        browser, shown, untick=("profile",))))
    assert tokens["scope"] == "openid email"


async def test_a_scope_made_required_after_it_was_declined_asks_again(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email")))
    await finish(browser, await answer(browser, shown, untick=("email",)))
    await set_required_scopes(live.services.db, client.client_id, ["email"])
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email")))
    assert shown.required == ["openid", "email"]


async def test_required_scopes_must_be_the_apps_own(live: LiveIdp) -> None:
    narrow = await register(live, scopes=["openid", "profile"])
    with pytest.raises(ValueError, match="not one of the app's scopes"):
        await set_required_scopes(live.services.db, narrow.client_id, ["email"])
    with pytest.raises(LookupError):
        await set_required_scopes(live.services.db, "no-such-app", ["profile"])


async def account_page(browser: Browser) -> str:
    """/account in a browser already signed in: the account area's own sign-in, then the page."""
    response = await browser.http.get("/account", params={"ui_locales": "en"})
    for _ in range(8):
        if response.status_code not in (302, 303):
            break
        response = await browser.http.get(response.headers["location"])
    assert response.status_code == 200 and response.url.path == "/account", response.text[:2000]
    return response.text


async def test_withdrawing_on_account_ends_the_apps_tokens_and_asks_again(
    live: LiveIdp, browser: Browser, client: RegisteredClient,
) -> None:
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email offline_access")))
    tokens = await redeem(live, client, await finish(browser, await answer(
        browser, shown, untick=("email",))))
    assert tokens["scope"] == "openid profile offline_access" and tokens["refresh_token"]
    async with live.client() as http:
        rotated = await http.post("/token", auth=client.basic, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    current = rotated.json()

    page = await account_page(browser)
    mine = page[page.index(f'data-consent="{client.client_id}"'):]
    mine = mine[:mine.index("</form>")]
    assert 'data-scope="profile"' in mine and 'data-scope="email"' not in mine
    assert 'data-declined="email"' in mine and "You chose not to share" in mine
    csrf = mine[mine.index('name="csrf" value="') + 19:]
    withdrawn = await browser.http.post("/account/consents/revoke", data={
        "csrf": csrf[:csrf.index('"')], "client_id": client.client_id})
    assert withdrawn.status_code == 303
    assert f'data-consent="{client.client_id}"' not in await account_page(browser)
    assert await stored(live, client) is None

    async with live.client() as http:
        for refresh in (tokens["refresh_token"], current["refresh_token"]):
            refused = await http.post("/token", auth=client.basic, data={
                "grant_type": "refresh_token", "refresh_token": refresh})
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # the access token issued with the live refresh token ends with it
    assert (await introspect(live, client, current["access_token"]))["active"] is False
    async with live.services.db() as db:
        audited = (await db.scalars(select(AuditEvent).where(
            AuditEvent.outcome == "consent_revoked",
            AuditEvent.client_id == client.client_id))).all()
    # one refresh token still worked (the rotated one is revoked too, not counted)
    assert len(audited) == 1 and audited[0].detail["refresh_tokens"] == 1

    # the next authorization asks again, from a clean slate
    shown = await consent_page(browser, await start(browser, params(
        client, "openid profile email")))
    assert shown.boxes == {"profile": True, "email": True}


async def test_answers_from_two_tabs_at_once_leave_one_record(
    live: LiveIdp, client: RegisteredClient,
) -> None:
    student = await live.services.directory.find("student")
    assert student is not None
    asked = ["openid", "profile", "email"]
    await asyncio.gather(*(
        save_consent(live.services, student.subject, client.client_id, asked, granted)
        for granted in (["openid", "profile"], ["openid", "email"]) * 3))
    async with live.services.db() as db:
        rows = (await db.scalars(select(Consent).where(
            Consent.subject == student.subject, Consent.client_id == client.client_id))).all()
    assert len(rows) == 1
    assert set(rows[0].scopes) | set(rows[0].declined) == set(asked)
