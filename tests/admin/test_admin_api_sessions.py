"""A person's SSO sessions through the admin API: listed with the apps in each; revoked by an
admin, a session ends single sign-on (prompt=none now answers login_required) and the apps hear
of it by back-channel logout (a real HTTP receiver)."""

from __future__ import annotations

import secrets

from joserfc import jwt
from joserfc.jwk import KeySet

from idp.protocols.oidc.backchannel import BACKCHANNEL_EVENT
from tests.admin.support import AdminBackend
from tests.oauth.flow import REDIRECT, Browser, query_of, register
from tests.web.receiver import Receiver


async def signed_in(backend: AdminBackend, client_id: str, username: str,
                    password: str) -> Browser:
    browser = Browser.open(backend.live)
    response = await browser.authorize(
        {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
         "scope": "openid", "state": secrets.token_urlsafe(6)}, username=username, password=password)
    assert response.status_code == 302 and "code" in query_of(response.headers["location"])
    return browser


async def silent(browser: Browser, client_id: str) -> dict[str, str]:
    """prompt=none: the answer single sign-on gives this browser right now."""
    response = await browser.http.get("/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "scope": "openid", "state": "s", "prompt": "none"})
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])


async def test_admin_revokes_a_session_sso_ends_and_the_app_is_told(
    backend: AdminBackend, rp_receiver: Receiver,
) -> None:
    app = await register(backend.live, name="Service hall", skip_consent=True,
                         backchannel_logout_uri=f"{rp_receiver.base_url}/ok")
    other = await register(backend.live, name="OA system", skip_consent=True)
    username, password = await backend.new_person()
    browser = await signed_in(backend, app.client_id, username, password)
    try:
        assert "code" in await silent(browser, other.client_id)  # SSO works: no password asked
        listed = await backend.ok("GET", f"/people/{username}/sessions")
        [session] = listed["sessions"]
        assert {(a["client_id"], a["name"]) for a in session["apps"]} == {
            (app.client_id, "Service hall"), (other.client_id, "OA system")}
        sid = session["sid"]

        before = len(rp_receiver.at("/ok"))
        ended = await backend.ok("DELETE", f"/people/{username}/sessions/{sid}")
        assert ended["deliveries"] == {app.client_id: "delivered"}
        got = rp_receiver.at("/ok")[before:]
        assert len(got) == 1
        async with backend.live.client() as http:
            keys = KeySet.import_key_set((await http.get("/jwks")).json())
        claims = jwt.decode(got[0].form["logout_token"], keys).claims
        assert claims["sid"] == sid and claims["aud"] == app.client_id
        assert claims["events"] == {BACKCHANNEL_EVENT: {}}

        assert (await silent(browser, app.client_id)).get("error") == "login_required"
        assert (await backend.ok("GET", f"/people/{username}/sessions"))["sessions"] == []
        again = await backend.api("DELETE", f"/people/{username}/sessions/{sid}")
        assert again.status_code == 404
    finally:
        await browser.close()


async def test_revoke_all_and_someone_elses_sid_is_not_found(backend: AdminBackend) -> None:
    app = await register(backend.live, name="Library", skip_consent=True)
    username, password = await backend.new_person()
    other_name, other_password = await backend.new_person()
    first = await signed_in(backend, app.client_id, username, password)
    second = await signed_in(backend, app.client_id, username, password)
    bystander = await signed_in(backend, app.client_id, other_name, other_password)
    try:
        sessions = (await backend.ok("GET", f"/people/{username}/sessions"))["sessions"]
        assert len(sessions) == 2
        [theirs] = (await backend.ok("GET", f"/people/{other_name}/sessions"))["sessions"]
        mixed = await backend.api("DELETE", f"/people/{username}/sessions/{theirs['sid']}")
        assert mixed.status_code == 404  # a sid of somebody else's is not this person's
        ended = await backend.ok("DELETE", f"/people/{username}/sessions")
        assert {e["sid"] for e in ended} == {s["sid"] for s in sessions}
        for browser in (first, second):
            assert (await silent(browser, app.client_id)).get("error") == "login_required"
        assert "code" in await silent(bystander, app.client_id)
    finally:
        for browser in (first, second, bystander):
            await browser.close()


async def test_disabling_a_person_ends_their_sessions(backend: AdminBackend) -> None:
    app = await register(backend.live, name="Mail", skip_consent=True)
    username, password = await backend.new_person()
    browser = await signed_in(backend, app.client_id, username, password)
    try:
        result = await backend.ok("POST", f"/people/{username}/disable")
        assert result["sessions_ended"] == 1
        assert (await silent(browser, app.client_id)).get("error") == "login_required"
    finally:
        await browser.close()
