"""The behaviours the OpenID Foundation's Basic OP and Config OP plans check
(see /work/shared/CONFORMANCE.md), each against the live server."""

from __future__ import annotations

import asyncio
import json
import secrets

from joserfc import jwt

from tests.oauth.flow import (
    REDIRECT,
    Browser,
    RegisteredClient,
    exchange,
    jwks,
    query_of,
    verify_id_token,
)
from tests.support.server import LiveIdp


def params(client: RegisteredClient, **extra: str) -> dict[str, str]:
    values = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
              "scope": "openid", "state": secrets.token_urlsafe(8),
              "nonce": secrets.token_urlsafe(8)}
    values.update(extra)
    return values


async def id_token(live: LiveIdp, browser: Browser, client: RegisteredClient,
                   **extra: str) -> dict:
    code, _ = await browser.code(client, **{"scope": "openid", **extra})
    response = await exchange(live, client, code)
    assert response.status_code == 200, response.text
    return await verify_id_token(live, response.json()["id_token"], client.client_id)


async def test_oidcc_server_nonce_and_state(live: LiveIdp, browser: Browser, first_party) -> None:
    claims = await id_token(live, browser, first_party, nonce="n-0S6_WzA2Mj")
    assert claims["nonce"] == "n-0S6_WzA2Mj"


async def test_request_without_nonce_succeeds(live: LiveIdp, browser: Browser,
                                              first_party) -> None:
    claims = await id_token(live, browser, first_party)
    assert "nonce" not in claims


async def test_codereuse_revokes_the_first_access_token(live: LiveIdp, browser: Browser,
                                                        first_party) -> None:
    code, _ = await browser.code(first_party, scope="openid offline_access")
    first = await exchange(live, first_party, code)
    assert first.status_code == 200
    tokens = first.json()
    second = await exchange(live, first_party, code)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    async with live.client() as http:
        userinfo = await http.get("/userinfo",
                                  headers={"Authorization": f"Bearer {tokens['access_token']}"})
        refreshed = await http.post("/token", auth=first_party.basic, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert userinfo.status_code == 401
    assert refreshed.json()["error"] == "invalid_grant"


async def test_redirect_uri_mismatch_is_an_error_page(browser: Browser, first_party) -> None:
    for uri in (REDIRECT + "?extra=1", REDIRECT + "/", "https://RP.example.edu/cb"):
        response = await browser.http.get("/authorize", params=params(first_party,
                                                                      redirect_uri=uri))
        assert response.status_code == 400, uri
        assert "location" not in response.headers


async def test_prompt_none_logged_out_is_login_required(browser: Browser, first_party) -> None:
    p = params(first_party, prompt="none")
    response = await browser.http.get("/authorize", params=p)
    assert response.status_code == 302
    result = query_of(response.headers["location"])
    assert result["error"] == "login_required" and result["state"] == p["state"]


async def test_prompt_none_logged_in_returns_a_code_without_a_page(
        live: LiveIdp, browser: Browser, first_party) -> None:
    await browser.code(first_party)
    code, _ = await browser.code(first_party, prompt="none")
    assert browser.pages == []
    assert (await exchange(live, first_party, code)).status_code == 200


async def test_prompt_none_needing_consent_is_consent_required(browser: Browser,
                                                               confidential) -> None:
    await browser.code(confidential)  # logs in and consents to openid profile
    p = params(confidential, prompt="none", scope="openid email")
    response = await browser.http.get("/authorize", params=p)
    assert query_of(response.headers["location"])["error"] == "consent_required"


async def test_prompt_login_forces_a_new_login(live: LiveIdp, browser: Browser,
                                               first_party) -> None:
    before = await id_token(live, browser, first_party)
    await asyncio.sleep(1.1)
    after = await id_token(live, browser, first_party, prompt="login")
    assert browser.pages[0] == "login"
    assert after["auth_time"] > before["auth_time"]


async def test_max_age(live: LiveIdp, browser: Browser, first_party) -> None:
    before = await id_token(live, browser, first_party)
    same = await id_token(live, browser, first_party, max_age="10000")
    assert browser.pages == [] and same["auth_time"] == before["auth_time"]
    await asyncio.sleep(2)
    after = await id_token(live, browser, first_party, max_age="1")
    assert browser.pages[0] == "login"
    assert after["auth_time"] > before["auth_time"]


async def test_id_token_hint(live: LiveIdp, browser: Browser, first_party) -> None:
    first = await browser.code(first_party)
    tokens = (await exchange(live, first_party, first[0])).json()
    sub = (await verify_id_token(live, tokens["id_token"], first_party.client_id))["sub"]
    claims = await id_token(live, browser, first_party, prompt="none",
                            id_token_hint=tokens["id_token"])
    assert claims["sub"] == sub and browser.pages == []
    # a hint naming somebody else (the teacher), with prompt=none in the student's browser
    teacher = Browser.open(live)
    try:
        response = await teacher.authorize(params(first_party), username="teacher",
                                           password="teacher123")
    finally:
        await teacher.close()
    teacher_tokens = (await exchange(live, first_party,
                                     query_of(response.headers["location"])["code"])).json()
    response = await browser.http.get("/authorize", params=params(
        first_party, prompt="none", id_token_hint=teacher_tokens["id_token"]))
    assert query_of(response.headers["location"])["error"] == "login_required"
    # a modified hint is not trusted
    header, payload, _ = tokens["id_token"].split(".")
    response = await browser.http.get("/authorize", params=params(
        first_party, prompt="none", id_token_hint=f"{header}.{payload}."))
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_claims_per_scope(live: LiveIdp, browser: Browser, first_party) -> None:
    expected = {
        "profile": {"name", "given_name", "family_name", "preferred_username"},
        "email": {"email", "email_verified"},
        "phone": {"phone_number"},
        "campus": {"campus_number", "department"},
        "groups": {"groups"},
        "eduperson": {"eduperson_affiliation", "eduperson_scoped_affiliation",
                      "eduperson_principal_name"},
    }
    for scope, names in expected.items():
        code, _ = await browser.code(first_party, scope=f"openid {scope}")
        tokens = (await exchange(live, first_party, code)).json()
        async with live.client() as http:
            userinfo = (await http.get("/userinfo", headers={
                "Authorization": f"Bearer {tokens['access_token']}"})).json()
        others = set().union(*(n for s, n in expected.items() if s != scope))
        assert names <= set(userinfo), (scope, userinfo)
        assert not others & set(userinfo), (scope, userinfo)
        claims = await verify_id_token(live, tokens["id_token"], first_party.client_id)
        assert names <= set(claims), (scope, claims)
    assert userinfo["eduperson_scoped_affiliation"] == ["student@example.edu",
                                                        "member@example.edu"]
    assert userinfo["eduperson_principal_name"] == "student@example.edu"


async def test_other_scope_order_and_all_scopes(live: LiveIdp, browser: Browser,
                                                first_party) -> None:
    claims = await id_token(live, browser, first_party,
                            scope="phone email profile openid groups eduperson campus")
    assert {"email", "phone_number", "name", "groups", "campus_number"} <= set(claims)


async def test_unknown_parameters_display_acr_values_claims_are_accepted(
        live: LiveIdp, browser: Browser, first_party) -> None:
    claims_param = json.dumps({"id_token": {"email": {"essential": True}},
                               "userinfo": {"name": None}})
    claims = await id_token(live, browser, first_party, scope="openid email",
                            extra_param="x", display="popup", acr_values="urn:mace:silver",
                            claims=claims_param, claims_locales="en", ui_locales="zh-CN")
    assert claims["email"] == "student@example.edu"
    response = await browser.http.get("/authorize", params=params(first_party, claims="{not"))
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_authorization_request_by_post(live: LiveIdp, browser: Browser,
                                             first_party) -> None:
    p = params(first_party)
    response = await browser.authorize(p, method="POST")
    assert response.status_code == 302, response.text
    result = query_of(response.headers["location"])
    assert result["state"] == p["state"]
    assert (await exchange(live, first_party, result["code"])).status_code == 200


async def test_request_objects_are_rejected_as_unsupported(browser: Browser,
                                                           first_party) -> None:
    unsigned = "eyJhbGciOiJub25lIn0." + "eyJzY29wZSI6Im9wZW5pZCJ9."
    p = params(first_party, request=unsigned)
    response = await browser.http.get("/authorize", params=p)
    result = query_of(response.headers["location"])
    assert result["error"] == "request_not_supported" and result["state"] == p["state"]
    response = await browser.http.get("/authorize", params=params(
        first_party, request_uri="https://rp.example.edu/request.jwt"))
    assert query_of(response.headers["location"])["error"] == "request_uri_not_supported"


async def test_userinfo_three_ways(live: LiveIdp, browser: Browser, first_party) -> None:
    code, _ = await browser.code(first_party, scope="openid profile")
    token = (await exchange(live, first_party, code)).json()["access_token"]
    async with live.client() as http:
        got = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        header = await http.post("/userinfo", headers={"Authorization": f"Bearer {token}"})
        body = await http.post("/userinfo", data={"access_token": token})
    assert got.json() == header.json() == body.json()
    assert got.json()["name"] == "张三"


async def test_tokens_issued_before_a_key_rotation_still_verify(
        live: LiveIdp, browser: Browser, first_party) -> None:
    code, _ = await browser.code(first_party)
    before = (await exchange(live, first_party, code)).json()
    old_kid = jwt.decode(before["id_token"], await jwks(live)).header["kid"]
    live.services.keys.rotate()
    code, _ = await browser.code(first_party)
    after = (await exchange(live, first_party, code)).json()
    keyset = await jwks(live)
    new = jwt.decode(after["id_token"], keyset)
    assert new.header["kid"] != old_kid
    await verify_id_token(live, before["id_token"], first_party.client_id)
    async with live.client() as http:
        userinfo = await http.get("/userinfo", headers={
            "Authorization": f"Bearer {before['access_token']}"})
    assert userinfo.status_code == 200
