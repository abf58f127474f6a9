"""Token introspection (RFC 7662)."""

from __future__ import annotations

import secrets

from tests.oauth.flow import register, tokens_for
from tests.support.server import LiveIdp


async def introspect(live: LiveIdp, client, token: str, **extra: str) -> dict:  # type: ignore[no-untyped-def]
    async with live.client() as http:
        response = await http.post("/introspect", data={"token": token, **extra},
                                   auth=client.basic)
    assert response.status_code == 200, response.text
    return response.json()


async def test_active_access_token(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid profile offline_access")
    body = await introspect(live, first_party, token["access_token"])
    assert body["active"] is True
    assert body["client_id"] == first_party.client_id
    assert body["scope"] == "openid profile offline_access"
    assert body["iss"] == live.settings.issuer and body["token_type"] == "Bearer"
    assert body["sub"] and body["exp"] > body["iat"]
    refresh = await introspect(live, first_party, token["refresh_token"],
                               token_type_hint="refresh_token")
    assert refresh["active"] is True and refresh["sub"] == body["sub"]


async def test_unknown_and_foreign_tokens_are_inactive(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid offline_access")
    other = await register(live, skip_consent=True)
    assert await introspect(live, first_party, secrets.token_urlsafe(32)) == {"active": False}
    assert await introspect(live, first_party, "a.b.c") == {"active": False}
    assert await introspect(live, other, token["access_token"]) == {"active": False}
    assert await introspect(live, other, token["refresh_token"]) == {"active": False}
    # an ID token is not an access token
    assert await introspect(live, first_party, token["id_token"]) == {"active": False}


async def test_introspection_needs_a_confidential_client(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid")
    public = await register(live, public=True)
    async with live.client() as http:
        anonymous = await http.post("/introspect", data={"token": token["access_token"]})
        as_public = await http.post("/introspect", data={"token": token["access_token"],
                                                         "client_id": public.client_id})
        missing = await http.post("/introspect", data={}, auth=first_party.basic)
    for response in (anonymous, as_public):
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
