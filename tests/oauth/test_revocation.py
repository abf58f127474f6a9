"""Token revocation (RFC 7009)."""

from __future__ import annotations

import secrets

from tests.oauth.flow import Browser, exchange, pkce_pair, register, tokens_for
from tests.support.server import LiveIdp


async def revoke(live: LiveIdp, client, token: str, **extra: str):  # type: ignore[no-untyped-def]
    async with live.client() as http:
        if client.secret:
            return await http.post("/revoke", data={"token": token, **extra}, auth=client.basic)
        return await http.post("/revoke", data={"token": token, "client_id": client.client_id,
                                                **extra})


async def active(live: LiveIdp, client, token: str) -> bool:  # type: ignore[no-untyped-def]
    async with live.client() as http:
        response = await http.post("/introspect", data={"token": token}, auth=client.basic)
    return response.json()["active"]


async def test_revoking_an_access_token(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid")
    assert await active(live, first_party, token["access_token"])
    response = await revoke(live, first_party, token["access_token"],
                            token_type_hint="access_token")
    assert response.status_code == 200
    assert not await active(live, first_party, token["access_token"])
    async with live.client() as http:
        userinfo = await http.get("/userinfo",
                                  headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.status_code == 401


async def test_revoking_a_refresh_token_revokes_its_family(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid offline_access")
    async with live.client() as http:
        rotated = (await http.post("/token", auth=first_party.basic, data={
            "grant_type": "refresh_token", "refresh_token": token["refresh_token"]})).json()
    assert (await revoke(live, first_party, rotated["refresh_token"])).status_code == 200
    assert not await active(live, first_party, rotated["refresh_token"])
    async with live.client() as http:
        response = await http.post("/token", auth=first_party.basic, data={
            "grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]})
    assert response.json()["error"] == "invalid_grant"


async def test_unknown_and_foreign_tokens_get_200_and_stay(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid offline_access")
    other = await register(live, skip_consent=True)
    assert (await revoke(live, first_party, secrets.token_urlsafe(30))).status_code == 200
    assert (await revoke(live, other, token["refresh_token"])).status_code == 200
    assert await active(live, first_party, token["refresh_token"])


async def test_public_client_revokes_its_own_token(live: LiveIdp, browser: Browser) -> None:
    public = await register(live, public=True, skip_consent=True)
    verifier, challenge = pkce_pair()
    code, _ = await browser.code(public, scope="openid offline_access", code_challenge=challenge,
                                 code_challenge_method="S256")
    token = (await exchange(live, public, code, code_verifier=verifier)).json()
    assert (await revoke(live, public, token["refresh_token"])).status_code == 200
    async with live.client() as http:
        response = await http.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
            "client_id": public.client_id})
    assert response.json()["error"] == "invalid_grant"


async def test_revocation_needs_client_authentication(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid")
    async with live.client() as http:
        response = await http.post("/revoke", data={"token": token["access_token"]},
                                   auth=(first_party.client_id, "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert await active(live, first_party, token["access_token"])
