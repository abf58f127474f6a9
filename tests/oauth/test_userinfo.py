"""UserInfo (OIDC Core §5.3) with bearer tokens per RFC 6750 §2 and errors per §3."""

from __future__ import annotations

import secrets

from tests.oauth.flow import register, tokens_for
from tests.support.people import add_person, disable_person
from tests.support.server import LiveIdp


async def test_userinfo_get_post_header_post_body(live: LiveIdp, first_party) -> None:
    token = (await tokens_for(live, first_party, scope="openid profile email"))["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    async with live.client() as http:
        responses = [
            await http.get("/userinfo", headers=bearer),
            await http.post("/userinfo", headers=bearer),
            await http.post("/userinfo", data={"access_token": token}),
        ]
    for response in responses:
        assert response.status_code == 200, response.text
        claims = response.json()
        assert claims["preferred_username"] == "student"
        assert claims["email"] == "student@example.edu" and claims["email_verified"] is True
        assert "groups" not in claims and "phone_number" not in claims
        assert response.headers["cache-control"] == "no-store"


async def test_token_in_query_is_refused(live: LiveIdp, first_party) -> None:
    token = (await tokens_for(live, first_party, scope="openid"))["access_token"]
    async with live.client() as http:
        response = await http.get("/userinfo", params={"access_token": token})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_missing_and_bad_tokens(live: LiveIdp) -> None:
    async with live.client() as http:
        missing = await http.get("/userinfo")
        bad = await http.get("/userinfo", headers={"Authorization": "Bearer not.a.jwt"})
        opaque = await http.get("/userinfo",
                                headers={"Authorization": f"Bearer {secrets.token_hex(16)}"})
    assert missing.status_code == 401
    assert "error=" not in missing.headers["www-authenticate"]  # RFC 6750 §3.1
    for response in (bad, opaque):
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_refresh_token_and_id_token_do_not_open_userinfo(live: LiveIdp, first_party) -> None:
    token = await tokens_for(live, first_party, scope="openid offline_access")
    async with live.client() as http:
        for value in (token["refresh_token"], token["id_token"]):
            response = await http.get("/userinfo", headers={"Authorization": f"Bearer {value}"})
            assert response.status_code == 401
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_without_openid_scope_is_insufficient(live: LiveIdp, first_party) -> None:
    token = (await tokens_for(live, first_party, scope="profile"))["access_token"]
    async with live.client() as http:
        response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


async def test_disabled_person_makes_the_token_invalid(live: LiveIdp, browser) -> None:
    username = "gone-" + secrets.token_hex(3)
    await add_person(live, username, "gone-pass-123", name="Gone")
    client = await register(live, skip_consent=True)
    response = await browser.authorize(
        {"response_type": "code", "client_id": client.client_id,
         "redirect_uri": "https://rp.example.edu/cb", "scope": "openid", "state": "s"},
        username=username, password="gone-pass-123")
    from tests.oauth.flow import exchange, query_of

    token = (await exchange(live, client, query_of(response.headers["location"])["code"])).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    async with live.client() as http:
        assert (await http.get("/userinfo", headers=bearer)).status_code == 200
        await disable_person(live, username)
        response = await http.get("/userinfo", headers=bearer)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
