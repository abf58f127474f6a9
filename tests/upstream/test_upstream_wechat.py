"""WeChat (微信), against the STAND-IN of its servers (tests/upstream/platforms.py: the documented
requests and answers, not WeChat): the official account's silent sign-in inside WeChat's
browser, the website QR sign-in on a PC, and the campus mini-program's wx.login code turned
into tokens for the bound person. The three apps share the person's unionid, so one binding
serves all of them."""

from __future__ import annotations

import secrets

import httpx
from sqlalchemy import select

from idp.db.upstream_models import UpstreamBinding
from idp.protocols.oidc.clients import create_client
from tests.mfa.browser import Browser, id_token_claims
from tests.mfa.helpers import mfa_client, plain_client
from tests.mfa.people import new_person
from tests.oauth.flow import (
    REDIRECT,
    RegisteredClient,
    exchange,
    pkce_pair,
    register,
    verify_id_token,
)
from tests.support.server import LiveIdp
from tests.upstream.platforms import WX_MP_APPID, WX_OPEN_APPID, StandIn
from tests.upstream.test_upstream_platforms import authorize, bind_with_password, follow, with_button

WECHAT_APP = ("Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile Safari/537.36 "
              "MicroMessenger/8.0.47.2560 NetType/WIFI Language/zh_CN")


async def mini_program_client(live: LiveIdp) -> RegisteredClient:
    """The campus mini-program: a public, first-party client (PKCE, no consent page)."""
    row, _ = await create_client(live.services.db, name="智慧校园 mini-program",
                                 redirect_uris=[REDIRECT], public=True, skip_consent=True)
    return RegisteredClient(row, None)


async def mini_program_code(live: LiveIdp, client: RegisteredClient, js_code: str,
                            challenge: str, **extra: str) -> httpx.Response:
    async with live.client() as http:
        return await http.post("/upstream/wechatmini/mini-program/code", json={
            "js_code": js_code, "client_id": client.client_id, "redirect_uri": REDIRECT,
            "scope": "openid profile", "code_challenge": challenge,
            "code_challenge_method": "S256", "nonce": "n-0S6", "state": "mp", **extra})


async def test_official_account_binds_then_signs_in_silently(live: LiveIdp,
                                                             stand_in: StandIn) -> None:
    person, user = await new_person(live, prefix="wx"), f"w{secrets.token_hex(5)}"
    stand_in.signing_in = user
    client = await plain_client(live)
    first = Browser(live, live.client(headers={"user-agent": WECHAT_APP}))
    try:
        page = await follow(first, await authorize(first, client))
        asked = stand_in.authorize_queries[-1]
        assert (asked["appid"], asked["scope"]) == (WX_MP_APPID, "snsapi_base")
        await bind_with_password(first, page, person)
    finally:
        await first.close()
    async with live.services.db() as db:
        binding = await db.scalar(select(UpstreamBinding).where(
            UpstreamBinding.external_id == f"union-{user}"))
    assert binding is not None and binding.issuer == "wechat-union"

    again = Browser(live, live.client(headers={"user-agent": WECHAT_APP}))
    try:
        claims = await id_token_claims(live, client, await follow(again, await authorize(again,
                                                                                      client)))
    finally:
        await again.close()
    assert claims["amr"] == ["fed"] and claims["sub"] == binding.subject

    # on a PC the same person scans the website QR: the shared unionid, no binding needed
    pc = Browser.open(live)
    try:
        page = await pc.http.get((await authorize(pc, client)).headers["location"])
        assert "/upstream/wechat/start/" not in page.text  # the official account: in WeChat only
        claims = await id_token_claims(live, client, await with_button(pc, client, "wechatweb"))
    finally:
        await pc.close()
    assert stand_in.authorize_queries[-1]["appid"] == WX_OPEN_APPID
    assert stand_in.authorize_queries[-1]["scope"] == "snsapi_login"
    assert claims["sub"] == binding.subject and claims["amr"] == ["fed"]


async def test_the_mini_program_code_becomes_tokens_for_the_bound_person(
        live: LiveIdp, stand_in: StandIn) -> None:
    person, user = await new_person(live, prefix="mini"), f"m{secrets.token_hex(5)}"
    client = await mini_program_client(live)
    verifier, challenge = pkce_pair()
    # not bound yet: refused, and nothing is made
    refused = await mini_program_code(live, client, stand_in.wx_login(user), challenge)
    assert refused.status_code == 403 and refused.json()["error"] == "access_denied", refused.text

    # bound through the official account (the same unionid)
    stand_in.signing_in = user
    binder = Browser(live, live.client(headers={"user-agent": WECHAT_APP}))
    try:
        page = await follow(binder, await authorize(binder, await plain_client(live)))
        await bind_with_password(binder, page, person)
    finally:
        await binder.close()

    answer = await mini_program_code(live, client, stand_in.wx_login(user), challenge)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store" and answer.json()["state"] == "mp"
    tokens = await exchange(live, client, answer.json()["code"], code_verifier=verifier)
    assert tokens.status_code == 200, tokens.text
    claims = await verify_id_token(live, tokens.json()["id_token"], client.client_id)
    target = await live.services.directory.find(person.username)
    assert target is not None and claims["sub"] == target.subject
    assert claims["amr"] == ["fed"] and claims["nonce"] == "n-0S6" and "sid" in claims
    # the access token works for campus APIs as that person
    async with live.client() as http:
        info = await http.get("/userinfo", headers={
            "Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == target.subject

    # a used wx.login code, a made-up one, no PKCE, another redirect_uri: refused, no 500
    used = stand_in.wx_login(user)
    assert (await mini_program_code(live, client, used, challenge)).status_code == 200
    again = await mini_program_code(live, client, used, challenge)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    no_pkce = await mini_program_code(live, client, stand_in.wx_login(user), "",
                                      code_challenge_method="")
    assert no_pkce.status_code == 400 and "error" in no_pkce.json()
    elsewhere = await mini_program_code(live, client, stand_in.wx_login(user), challenge,
                                        redirect_uri="https://evil.example/cb")
    assert elsewhere.status_code == 400
    async with live.client() as http:
        empty = await http.post("/upstream/wechatmini/mini-program/code", content=b"{nope",
                                headers={"content-type": "application/json"})
        wrong_kind = await http.post("/upstream/wecom/mini-program/code",
                                     json={"js_code": "x"})
    assert empty.status_code == 400 and wrong_kind.status_code == 404


async def test_the_mini_program_refuses_apps_that_want_more(live: LiveIdp,
                                                            stand_in: StandIn) -> None:
    person, user = await new_person(live, prefix="minim"), f"mm{secrets.token_hex(5)}"
    stand_in.signing_in = user
    binder = Browser(live, live.client(headers={"user-agent": WECHAT_APP}))
    try:
        page = await follow(binder, await authorize(binder, await plain_client(live)))
        await bind_with_password(binder, page, person)
    finally:
        await binder.close()
    _, challenge = pkce_pair()
    finance = await mfa_client(live)  # first-party, requires a second factor
    asked = await mini_program_code(live, finance, stand_in.wx_login(user), challenge)
    assert asked.status_code == 400 and asked.json()["error"] == "interaction_required"
    asks_consent = await register(live)  # an app that shows a consent page
    refused = await mini_program_code(live, asks_consent, stand_in.wx_login(user), challenge)
    assert refused.status_code == 400 and refused.json()["error"] == "consent_required"
