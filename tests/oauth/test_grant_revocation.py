"""What a revocation reaches: a refresh-token family takes the access tokens issued with it along
(RFC 7009 §2.1, RFC 9700 §4.14.2)."""

from __future__ import annotations

import httpx

from tests.oauth.flow import RegisteredClient, tokens_for
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
