"""What a revocation reaches: a refresh-token family takes the access tokens issued with it along
(RFC 7009 §2.1, RFC 9700 §4.14.2), and revoking a person (idp/sso/revocation.py) ends every
token from their sign-ins until then, those of codes redeemed later included, at once, and
nothing of a sign-in made afterwards."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, exchange, query_of, tokens_for
from tests.support.people import add_person
from tests.support.server import LiveIdp

SCOPE = "openid offline_access"


async def active(live: LiveIdp, client: RegisteredClient, token: str) -> bool:
    async with live.client() as http:
        response = await http.post("/introspect", data={"token": token}, auth=client.basic)
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


async def userinfo(live: LiveIdp, access_token: str) -> httpx.Response:
    async with live.client() as http:
        return await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


async def refresh(live: LiveIdp, client: RegisteredClient, token: str) -> httpx.Response:
    async with live.client() as http:
        return await http.post("/token", auth=client.basic, data={
            "grant_type": "refresh_token", "refresh_token": token})


async def test_refresh_reuse_ends_every_access_token_of_the_family(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    first = await tokens_for(live, first_party, scope=SCOPE)
    second = (await refresh(live, first_party, first["refresh_token"])).json()
    newest = (await refresh(live, first_party, second["refresh_token"])).json()
    other = await tokens_for(live, first_party, scope=SCOPE)  # another family of the same person
    assert await active(live, first_party, newest["access_token"])
    assert (await userinfo(live, newest["access_token"])).status_code == 200

    reuse = await refresh(live, first_party, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    for issued in (first, second, newest):
        assert not await active(live, first_party, issued["access_token"])
    response = await userinfo(live, newest["access_token"])
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers[
        "www-authenticate"]
    assert await active(live, first_party, other["access_token"])
    assert await active(live, first_party, other["refresh_token"])


async def test_revoking_a_refresh_token_ends_the_access_tokens_of_its_family(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    first = await tokens_for(live, first_party, scope=SCOPE)
    rotated = (await refresh(live, first_party, first["refresh_token"])).json()
    async with live.client() as http:
        response = await http.post("/revoke", data={"token": rotated["refresh_token"]},
                                   auth=first_party.basic)
    assert response.status_code == 200
    assert not await active(live, first_party, first["access_token"])
    assert not await active(live, first_party, rotated["access_token"])


async def sign_in(live: LiveIdp, client: RegisteredClient, username: str,
                  password: str, scope: str = SCOPE) -> str:
    """A login in a fresh browser; returns the code (not yet redeemed)."""
    browser = Browser.open(live)
    try:
        response = await browser.authorize(
            {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
             "scope": scope, "state": "s"}, username=username, password=password)
    finally:
        await browser.close()
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])["code"]


async def redeem(live: LiveIdp, client: RegisteredClient, code: str) -> dict[str, Any]:
    response = await exchange(live, client, code)
    assert response.status_code == 200, response.text
    return response.json()


async def test_revoking_a_person_ends_their_tokens_and_codes_not_later_ones(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    username, password = "rv" + secrets.token_hex(4), "Pw-" + secrets.token_urlsafe(9)
    await add_person(live, username, password, name="Revoked Person")
    tokens = await redeem(live, first_party, await sign_in(live, first_party, username, password))
    pending = await sign_in(live, first_party, username, password)  # issued, not yet redeemed
    pending_short = await sign_in(live, first_party, username, password, scope="openid")
    bystander = await tokens_for(live, first_party, scope=SCOPE)  # somebody else's
    assert (await userinfo(live, tokens["access_token"])).status_code == 200
    subject = (await userinfo(live, tokens["access_token"])).json()["sub"]

    revoked = await live.services.revocation.revoke(subject, reason="test")
    assert revoked.grants == 1 and len(revoked.sessions) == 3  # one family; every login

    assert not await active(live, first_party, tokens["access_token"])
    assert not await active(live, first_party, tokens["refresh_token"])
    assert (await userinfo(live, tokens["access_token"])).status_code == 401
    assert (await refresh(live, first_party, tokens["refresh_token"])).json()["error"] == (
        "invalid_grant")
    # a code from before: it would begin a refresh family, so it is refused; without one, its
    # access token carries the revoked sign-in's auth_time and is dead on arrival
    late = await exchange(live, first_party, pending)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    short = await redeem(live, first_party, pending_short)
    assert not await active(live, first_party, short["access_token"])
    assert (await userinfo(live, short["access_token"])).status_code == 401
    assert await active(live, first_party, bystander["access_token"])

    # the person signs in again at once: what is issued now is not covered
    again = await redeem(live, first_party, await sign_in(live, first_party, username, password))
    assert await active(live, first_party, again["access_token"])
    assert (await userinfo(live, again["access_token"])).status_code == 200
    assert (await refresh(live, first_party, again["refresh_token"])).status_code == 200
