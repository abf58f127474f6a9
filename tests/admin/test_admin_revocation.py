"""An admin disables a person, or resets their password: everything the person held ends at once
(idp/sso/revocation.py) — access tokens answer active:false at /introspect and are refused at
/userinfo and by the admin API, refresh tokens and unredeemed codes are refused, the sessions
end and the apps hear of it by back-channel logout (a real HTTP receiver). Local directory and
slapd (with Redis and PostgreSQL)."""

from __future__ import annotations

import secrets
from typing import Any

from idp.admin.auth import ADMIN_SCOPE
from tests.admin.support import AdminBackend
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, exchange, query_of, register
from tests.web.receiver import Receiver

SCOPE = "openid offline_access"


async def sign_in(backend: AdminBackend, client: RegisteredClient, username: str,
                  password: str, scope: str = SCOPE) -> str:
    """A login in a browser of its own (a session each); returns the unredeemed code."""
    browser = Browser.open(backend.live)
    try:
        response = await browser.authorize(
            {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
             "scope": scope, "state": secrets.token_urlsafe(6)},
            username=username, password=password)
    finally:
        await browser.close()
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])["code"]


async def tokens_of(backend: AdminBackend, client: RegisteredClient, username: str,
                    password: str) -> dict[str, Any]:
    response = await exchange(backend.live, client, await sign_in(backend, client, username,
                                                                  password))
    assert response.status_code == 200, response.text
    return response.json()


async def what_still_works(backend: AdminBackend, client: RegisteredClient,
                           tokens: dict[str, Any]) -> dict[str, bool]:
    async with backend.live.client() as http:
        introspected = await http.post("/introspect", data={"token": tokens["access_token"]},
                                       auth=client.basic)
        userinfo = await http.get("/userinfo", headers={
            "Authorization": f"Bearer {tokens['access_token']}"})
        refreshed = await http.post("/token", auth=client.basic, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    return {"introspect": introspected.json()["active"], "userinfo": userinfo.status_code == 200,
            "refresh": refreshed.status_code == 200}


NOTHING = {"introspect": False, "userinfo": False, "refresh": False}


async def test_disabling_a_person_ends_their_tokens_at_once(
        backend: AdminBackend, rp_receiver: Receiver) -> None:
    app = await register(backend.live, name="Service hall", skip_consent=True,
                         backchannel_logout_uri=f"{rp_receiver.base_url}/ok")
    username, password = await backend.new_person()
    tokens = await tokens_of(backend, app, username, password)
    pending = await sign_in(backend, app, username, password)
    # the person has just been read (userinfo): the person cache would still say "active"
    assert (await what_still_works(backend, app, await tokens_of(backend, app, username,
                                                                  password)))["userinfo"]
    told = len(rp_receiver.at("/ok"))

    result = await backend.ok("POST", f"/people/{username}/disable")
    assert result["sessions_ended"] == 3

    assert await what_still_works(backend, app, tokens) == NOTHING
    late = await exchange(backend.live, app, pending)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    assert len(rp_receiver.at("/ok")) - told == 3  # each session's logout reached the app
    assert (await backend.ok("GET", f"/people/{username}/sessions"))["sessions"] == []


async def test_an_admin_reset_ends_what_the_old_password_opened(backend: AdminBackend) -> None:
    username, password = await backend.new_person()
    tokens = await tokens_of(backend, backend.client, username, password)
    bystander_name, bystander_password = await backend.new_person()
    bystander = await tokens_of(backend, backend.client, bystander_name, bystander_password)

    reset = await backend.ok("POST", f"/people/{username}/reset-password",
                             json={"mode": "password"})

    assert await what_still_works(backend, backend.client, tokens) == NOTHING
    assert (await backend.ok("GET", f"/people/{username}/sessions"))["sessions"] == []
    assert await what_still_works(backend, backend.client, bystander) == {
        "introspect": True, "userinfo": True, "refresh": True}
    fresh = await tokens_of(backend, backend.client, username, reset["password"])
    assert (await what_still_works(backend, backend.client, fresh))["userinfo"]


async def test_a_disabled_admins_token_is_refused_by_the_admin_api(backend: AdminBackend) -> None:
    username, password = await backend.new_person(groups=["idp-admins"])
    code = await sign_in(backend, backend.client, username, password,
                         scope=f"openid {ADMIN_SCOPE}")
    token = (await exchange(backend.live, backend.client, code)).json()["access_token"]
    assert (await backend.api("GET", "/people/itadmin", token=token)).status_code == 200
    await backend.ok("POST", f"/people/{username}/disable")
    refused = await backend.api("GET", "/people/itadmin", token=token)
    assert refused.status_code == 401 and "revoked" in refused.text
