"""Dynamic registration (RFC 7591) of a device-only app: the device grant, no redirect URI; it
runs the device flow at once."""

from __future__ import annotations

import httpx

from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT
from tests.admin.conftest_registration import (  # noqa: F401 - fixtures
    app_metadata,
    as_registered_client,
    http_fixture,
    initial_token_fixture,
    live_fixture,
    register,
)
from tests.device.flow import confirm, poll, start
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp


async def test_register_a_device_app_and_sign_it_in(live: LiveIdp, http: httpx.AsyncClient,
                                                    initial_token: str) -> None:
    metadata = app_metadata(redirect_uris=None, response_types=None,
                            grant_types=[DEVICE_CODE_GRANT, "refresh_token"],
                            token_endpoint_auth_method="none")
    response = await register(http, initial_token, metadata)
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["grant_types"] == [DEVICE_CODE_GRANT, "refresh_token"]
    assert info["response_types"] == [] and "client_secret" not in info
    client = await as_registered_client(live, info)
    started = await start(live, client)
    browser = Browser.open(live)
    try:
        await confirm(browser, started["user_code"])
    finally:
        await browser.close()
    answer = await poll(live, client, started["device_code"])
    assert answer.status_code == 200 and answer.json()["id_token"]


async def test_unknown_grant_is_refused(http: httpx.AsyncClient, initial_token: str) -> None:
    response = await register(http, initial_token, app_metadata(
        grant_types=["urn:ietf:params:oauth:grant-type:device_cod"]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
