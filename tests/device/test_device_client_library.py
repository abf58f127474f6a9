"""A real client library's device flow: authlib's OAuth2 client (httpx), driven the way a
command-line tool drives it: endpoints from discovery, the device authorization request with
the client's credentials, then `fetch_token` with the device_code grant every `interval`
seconds until the person has confirmed in a browser."""

from __future__ import annotations

import asyncio

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT
from tests.device.flow import confirm, device_client
from tests.oauth.flow import Browser, verify_id_token
from tests.support.server import LiveIdp


async def test_authlib_device_flow(live: LiveIdp) -> None:
    client = await device_client(live)
    assert client.secret is not None
    async with live.client() as http:
        metadata = (await http.get("/.well-known/openid-configuration")).json()
    oauth = AsyncOAuth2Client(client_id=client.client_id, client_secret=client.secret,
                              scope="openid profile", base_url=live.base_url)
    person = Browser.open(live)
    try:
        started = (await oauth.post(metadata["device_authorization_endpoint"],
                                    data={"scope": "openid profile"},
                                    auth=(client.client_id, client.secret))).json()
        errors: list[str] = []
        token = None
        for attempt in range(6):
            try:
                token = await oauth.fetch_token(metadata["token_endpoint"],
                                                grant_type=DEVICE_CODE_GRANT,
                                                device_code=started["device_code"])
                break
            except OAuthError as error:
                errors.append(error.error)
                if error.error not in ("authorization_pending", "slow_down"):
                    raise
            if attempt == 0:  # the person confirms on the phone while the tool waits
                done = await confirm(person, started["user_code"])
                assert "outcome=approved" in str(done.url)
            await asyncio.sleep(started["interval"])
        assert errors == ["authorization_pending"]
        assert token is not None and token["token_type"] == "Bearer"
        claims = await verify_id_token(live, token["id_token"], client.client_id)
        assert claims["preferred_username"] == "student"
        userinfo = await oauth.get(metadata["userinfo_endpoint"])
        assert userinfo.status_code == 200 and userinfo.json()["sub"] == claims["sub"]
    finally:
        await person.close()
        await oauth.aclose()


async def test_authlib_public_client(live: LiveIdp) -> None:
    """A command-line tool without a secret, configured as the README shows."""
    client = await device_client(live, public=True)
    oauth = AsyncOAuth2Client(client_id=client.client_id, token_endpoint_auth_method="none",
                              scope="openid profile offline_access", base_url=live.base_url)
    person = Browser.open(live)
    try:
        started = (await oauth.request("POST", "/device_authorization", withhold_token=True, data={
            "client_id": client.client_id, "scope": "openid profile offline_access"})).json()
        done = await confirm(person, started["user_code"])
        assert "outcome=approved" in str(done.url)
        token = await oauth.fetch_token(f"{live.base_url}/token", grant_type=DEVICE_CODE_GRANT,
                                        device_code=started["device_code"])
        assert token["refresh_token"] and token["scope"] == "openid profile offline_access"
    finally:
        await person.close()
        await oauth.aclose()
