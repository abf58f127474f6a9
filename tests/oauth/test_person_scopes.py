"""idp:admin is granted only to members of the admin group, whatever the client registered."""

from __future__ import annotations

from tests.oauth.flow import REDIRECT, Browser, exchange, query_of, register
from tests.support.server import LiveIdp


async def _token(live: LiveIdp, client, username: str, password: str) -> dict:  # type: ignore[no-untyped-def]
    browser = Browser.open(live)
    try:
        response = await browser.authorize(
            {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
             "scope": "openid idp:admin offline_access", "state": "s"},
            username=username, password=password)
    finally:
        await browser.close()
    token = (await exchange(live, client, query_of(response.headers["location"])["code"])).json()
    assert "access_token" in token, token
    return token


async def test_only_admins_get_the_admin_scope(live: LiveIdp) -> None:
    console = await register(live, skip_consent=True,
                             scopes=["openid", "offline_access", "idp:admin"],
                             grant_types=["authorization_code", "refresh_token",
                                          "client_credentials"])
    student = await _token(live, console, "student", "student123")
    assert student["scope"].split() == ["openid", "offline_access"]
    admin = await _token(live, console, "itadmin", "itadmin123")
    assert "idp:admin" in admin["scope"].split()

    async with live.client() as http:
        refreshed = (await http.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": student["refresh_token"],
            "scope": "openid idp:admin offline_access"}, auth=console.basic)).json()
        assert "idp:admin" not in refreshed.get("scope", "").split()
        machine = await http.post("/token", data={
            "grant_type": "client_credentials", "scope": "idp:admin"}, auth=console.basic)
    assert machine.status_code == 400 and machine.json()["error"] == "invalid_scope"
