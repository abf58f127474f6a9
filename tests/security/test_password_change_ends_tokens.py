"""A password changed on the login's change-password page (expired, or must be changed) ends
what the old password opened: tokens issued before stop working and older sessions end; the
login the page completes, and its tokens, are new and work (issue 24 item 2)."""

from __future__ import annotations

import secrets

from tests.oauth.flow import REDIRECT, Browser, exchange, query_of, register
from tests.security.flow import REDIRECT_URI, App, Authorization, change_password
from tests.support.server import LiveIdp

OLD = "Old-password-1"
NEW = "Brand-new-password-2"


async def test_an_expired_password_changed_at_login_ends_the_old_tokens(local_idp: LiveIdp) -> None:
    username = f"pw-{secrets.token_hex(4)}"
    directory = local_idp.services.directory
    await directory.create_person(username, OLD, name="Pass Word")
    client = await register(local_idp, skip_consent=True, redirect_uris=[REDIRECT, REDIRECT_URI])
    before = Browser.open(local_idp)
    try:
        response = await before.authorize(
            {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
             "scope": "openid offline_access", "state": "s"}, username=username, password=OLD)
        old = (await exchange(local_idp, client, query_of(response.headers["location"])["code"]
                              )).json()
        old_sid = before.http.cookies[local_idp.settings.session.cookie_name]
    finally:
        await before.close()
    await directory.expire_password(username)

    async with local_idp.client() as person:
        flow = Authorization(person, App(client.client_id, client.secret or ""))
        answer = await flow.log_in(username, OLD)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/password/")
        changed = await change_password(person, answer.headers["location"], OLD, NEW)
        assert changed.status_code == 303, changed.text[:500]
        new = await flow.redeem(await flow.follow_to_app(changed))

    async with local_idp.client() as http:
        refreshed = await http.post("/token", auth=client.basic, data={
            "grant_type": "refresh_token", "refresh_token": old["refresh_token"]})
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
        for token, status in ((old["access_token"], 401), (new["access_token"], 200)):
            userinfo = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
            assert userinfo.status_code == status, userinfo.text
    assert await local_idp.services.sessions.get(old_sid) is None
