"""WeCom (企业微信) and DingTalk (钉钉) sign-in, against the STAND-IN of their servers
(tests/upstream/platforms.py: their documented requests and answers, not the real services,
which cannot be reached from here): the QR / web sign-in, the in-app silent sign-in (no page
shown), binding by the campus password or by an admin's CSV, and who is refused."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from idp.db.upstream_models import UpstreamBinding
from tests.admin.support import mint_admin_backend
from tests.mfa.browser import Browser, id_token_claims
from tests.mfa.helpers import plain_client
from tests.mfa.people import Someone, new_person
from tests.oauth.flow import REDIRECT, RegisteredClient
from tests.support.server import LiveIdp
from tests.upstream.flow import button
from tests.upstream.platforms import AGENT_ID, CORP_ID, DT_CLIENT_ID, StandIn

WECOM_APP = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1"
DINGTALK_APP = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile DingTalk/7.5.20"


async def follow(browser: Browser, response: httpx.Response) -> httpx.Response:
    """Follow redirects across campus-idp and the stand-in until an answer that is not one
    (a page) or the redirect to the app."""
    for _ in range(12):
        location = response.headers.get("location", "")
        if response.status_code not in (302, 303) or location.startswith(REDIRECT):
            return response
        browser.pages.append(location.split("?")[0])
        response = await browser.http.get(location)
    raise AssertionError(f"too many redirects: {browser.pages}")


async def authorize(browser: Browser, client: RegisteredClient) -> httpx.Response:
    return await browser.http.get("/authorize", params={
        "response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
        "scope": "openid profile", "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8)})


async def with_button(browser: Browser, client: RegisteredClient, name: str) -> httpx.Response:
    """Sign in from the login page's button of provider `name` (a PC browser)."""
    page = await browser.http.get((await authorize(browser, client)).headers["location"])
    return await follow(browser, await browser.http.get(button(page.text, name)))


async def bind_with_password(browser: Browser, page: httpx.Response,
                             person: Someone) -> httpx.Response:
    assert page.status_code == 200 and 'id="upstream-bind"' in page.text, page.text[:1000]
    return await browser.submit(page, {"username": person.username, "password": person.password},
                                person=person)


async def bound(live: LiveIdp, external_id: str) -> list[UpstreamBinding]:
    async with live.services.db() as db:
        return list(await db.scalars(select(UpstreamBinding).where(
            UpstreamBinding.external_id == external_id)))


async def test_wecom_qr_sign_in_binds_then_signs_in(live: LiveIdp, stand_in: StandIn) -> None:
    person, userid = await new_person(live, prefix="wc"), f"wc{secrets.token_hex(4)}"
    stand_in.wecom_members.add(userid)
    stand_in.signing_in = userid
    client = await plain_client(live)
    browser = Browser.open(live)
    try:
        page = await with_button(browser, client, "wecom")
        asked = stand_in.authorize_queries[-1]
        # the documented web login link (企业微信Web登录)
        assert (asked["login_type"], asked["appid"], asked["agentid"]) == (
            "CorpApp", CORP_ID, AGENT_ID)
        assert asked["redirect_uri"] == f"{live.settings.issuer}/upstream/wecom/callback"
        claims = await id_token_claims(live, client, await bind_with_password(browser, page, person))
        assert claims["amr"] == ["pwd"]
    finally:
        await browser.close()
    [binding] = await bound(live, userid)
    assert (binding.issuer, binding.provider, binding.username) == (
        f"wecom:{CORP_ID}", "wecom", person.username)

    tokens_before = stand_in.calls["wecom_gettoken"]
    later = Browser.open(live)
    try:
        claims = await id_token_claims(live, client, await with_button(later, client, "wecom"))
    finally:
        await later.close()
    assert claims["amr"] == ["fed"] and claims["sub"] == binding.subject
    # the app access token is kept (gettoken is rate-limited at WeCom)
    assert stand_in.calls["wecom_gettoken"] == tokens_before


async def test_inside_the_wecom_app_no_page_is_shown(live: LiveIdp, stand_in: StandIn) -> None:
    person, userid = await new_person(live, prefix="wca"), f"wca{secrets.token_hex(4)}"
    stand_in.wecom_members.add(userid)
    stand_in.signing_in = userid
    client = await plain_client(live)
    first = Browser(live, live.client(headers={"user-agent": WECOM_APP}))
    try:
        # the first time: straight to WeCom's in-app authorization, then the binding page
        page = await follow(first, await authorize(first, client))
        assert stand_in.authorize_queries[-1]["scope"] == "snsapi_base"
        await bind_with_password(first, page, person)
    finally:
        await first.close()
    in_app = Browser(live, live.client(headers={"user-agent": WECOM_APP}))
    try:
        done = await follow(in_app, await authorize(in_app, client))
        claims = await id_token_claims(live, client, done)
    finally:
        await in_app.close()
    assert claims["amr"] == ["fed"]
    # no campus page on the way: the login page redirected at once
    assert any(p.startswith("/upstream/wecom/start/") for p in in_app.pages)
    assert stand_in.authorize_queries[-1]["scope"] == "snsapi_base"


async def test_someone_outside_the_organisation_is_refused(live: LiveIdp,
                                                           stand_in: StandIn) -> None:
    stand_in.signing_in = f"outsider{secrets.token_hex(4)}"  # not in wecom_members
    browser = Browser.open(live)
    try:
        page = await with_button(browser, await plain_client(live), "wecom")
        assert page.status_code == 200 and page.url.path.startswith("/login/")
        assert 'role="alert"' in page.text and 'id="upstream-bind"' not in page.text
    finally:
        await browser.close()
    assert await bound(live, stand_in.signing_in) == []
    assert await bound(live, f"o-{stand_in.signing_in}") == []


async def test_dingtalk_bound_in_bulk_by_an_admin_signs_in(live: LiveIdp,
                                                           stand_in: StandIn) -> None:
    person = await new_person(live, prefix="dt")
    union_id, userid = f"union{secrets.token_hex(6)}", f"dt{secrets.token_hex(4)}"
    stand_in.dingtalk_members[union_id] = userid
    admin = await mint_admin_backend("dingtalk", live)
    done = await admin.ok("POST", "/upstream-bindings/dingtalk",
                          content=f"number,userid\n{person.username},{userid}\n".encode())
    assert done == {"bound": 1, "unchanged": 0}

    stand_in.signing_in = union_id
    client = await plain_client(live)
    browser = Browser.open(live)
    try:
        claims = await id_token_claims(live, client, await with_button(browser, client, "dingtalk"))
    finally:
        await browser.close()
    asked = stand_in.authorize_queries[-1]
    assert (asked["client_id"], asked["response_type"], asked["scope"]) == (
        DT_CLIENT_ID, "code", "openid")
    target = await live.services.directory.find(person.username)
    assert target is not None and claims["sub"] == target.subject and claims["amr"] == ["fed"]
    [binding] = await bound(live, userid)
    assert binding.issuer == f"dingtalk:{DT_CLIENT_ID}" and binding.bound_by == "itadmin"

    # inside the DingTalk app: no campus page
    in_app = Browser(live, live.client(headers={"user-agent": DINGTALK_APP}))
    try:
        done_in_app = await follow(in_app, await authorize(in_app, client))
        assert (await id_token_claims(live, client, done_in_app))["sub"] == target.subject
    finally:
        await in_app.close()


async def test_dingtalk_someone_outside_the_organisation_is_refused(
        live: LiveIdp, stand_in: StandIn) -> None:
    stand_in.signing_in = f"union-outsider{secrets.token_hex(4)}"
    browser = Browser.open(live)
    try:
        page = await with_button(browser, await plain_client(live), "dingtalk")
        assert page.status_code == 200 and 'role="alert"' in page.text
    finally:
        await browser.close()
    assert await bound(live, stand_in.signing_in) == []


async def test_a_wrong_code_is_refused_not_a_500(live: LiveIdp, stand_in: StandIn) -> None:
    browser = Browser.open(live)
    try:
        page = await browser.http.get(
            (await authorize(browser, await plain_client(live))).headers["location"])
        started = await browser.http.get(button(page.text, "wecom"))
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        refused = await browser.http.get("/upstream/wecom/callback",
                                         params={"state": state, "code": "made-up"})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login/")
    finally:
        await browser.close()
