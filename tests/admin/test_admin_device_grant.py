"""Switching device sign-in (RFC 8628) on for an app: through the admin API and the console, and
by dynamic registration (tests/admin/test_registration_device.py). The grant is checked as the
others are (known grants only, at least one, code needs a redirect URI, client_credentials
needs a secret) and the engine sees the change at once."""

from __future__ import annotations

from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT
from idp.sso.apps import client_cache
from tests.admin.console_support import console_browser, post_form
from tests.admin.support import AdminBackend
from tests.oauth.flow import register


async def _device_authorization(backend: AdminBackend, client_id: str, secret: str) -> int:
    async with backend.live.client() as http:
        response = await http.post("/device_authorization", data={"scope": "openid"},
                                   auth=(client_id, secret))
    return response.status_code


async def test_api_switches_the_device_grant_on(backend: AdminBackend) -> None:
    client = await register(backend.live)
    assert client.secret
    await client_cache(backend.services.db).get(client.client_id)  # warm the engine's cache
    assert await _device_authorization(backend, client.client_id, client.secret) == 400
    path = f"/clients/{client.client_id}"
    edited = await backend.ok("PATCH", path, json={
        "grant_types": ["authorization_code", "refresh_token", DEVICE_CODE_GRANT]})
    assert DEVICE_CODE_GRANT in edited["grant_types"]
    assert await _device_authorization(backend, client.client_id, client.secret) == 200

    for bad, words in ((["password"], "unknown"), ([], "at least one")):
        refused = await backend.api("PATCH", path, json={"grant_types": bad})
        assert refused.status_code == 422 and words in refused.json()["error_description"], bad
    assert (await backend.api("PATCH", path, json={"grant_types": "device"})).status_code == 422
    # a device-only app needs no redirect URI; the code grant does
    device_only = await backend.ok("PATCH", path, json={"grant_types": [DEVICE_CODE_GRANT],
                                                        "redirect_uris": []})
    assert device_only["grant_types"] == [DEVICE_CODE_GRANT] and device_only["redirect_uris"] == []
    refused = await backend.api("PATCH", path, json={"grant_types": ["authorization_code"]})
    assert refused.status_code == 422 and "redirect URI" in refused.json()["error_description"]


async def test_public_client_cannot_get_client_credentials(backend: AdminBackend) -> None:
    public = await register(backend.live, public=True)
    refused = await backend.api("PATCH", f"/clients/{public.client_id}", json={
        "grant_types": ["authorization_code", "client_credentials"]})
    assert refused.status_code == 422 and "confidential" in refused.json()["error_description"]
    ok = await backend.ok("PATCH", f"/clients/{public.client_id}", json={
        "grant_types": ["authorization_code", DEVICE_CODE_GRANT]})
    assert ok["grant_types"] == ["authorization_code", DEVICE_CODE_GRANT]


async def test_console_ticks_the_device_grant(admin_local: AdminBackend) -> None:
    client = await register(admin_local.live, name="教室大屏 Classroom display")
    assert client.secret
    browser, _ = await console_browser(admin_local)
    path = f"/admin/clients/{client.client_id}"
    try:
        page = await browser.http.get(path)
        assert f'value="{DEVICE_CODE_GRANT}"' in page.text
        saved = await post_form(browser, path, f"{path}/edit", {
            "name": "教室大屏 Classroom display", "redirect_uris": "https://rp.example.edu/cb",
            "scopes": "openid profile", "grant_types_shown": "1",
            "grant_types": [DEVICE_CODE_GRANT, "refresh_token"]})  # type: ignore[dict-item]
        assert saved.status_code == 303, saved.text
        shown = await admin_local.ok("GET", f"/clients/{client.client_id}")
        assert shown["grant_types"] == [DEVICE_CODE_GRANT, "refresh_token"]
        assert await _device_authorization(admin_local, client.client_id, client.secret) == 200
        # none ticked is refused with a message, and nothing is changed
        refused = await post_form(browser, path, f"{path}/edit", {
            "name": "x", "redirect_uris": "https://rp.example.edu/cb", "scopes": "openid",
            "grant_types_shown": "1"})
        assert refused.status_code == 422 and "at least one" in refused.text
        kept = await admin_local.ok("GET", f"/clients/{client.client_id}")
        assert kept["grant_types"] == [DEVICE_CODE_GRANT, "refresh_token"] and kept["name"] != "x"
    finally:
        await browser.close()
