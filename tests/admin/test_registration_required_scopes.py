"""Required scopes through dynamic registration (RFC 7591 POST, RFC 7592 PUT: this server's
`required_scope` metadata) and the developer portal's app form, each checked against the app's
own scopes; and what the app's consent page then shows."""

from __future__ import annotations

from typing import Any

import httpx

from idp.sso.apps import get_client
from tests.admin.conftest_registration import (  # noqa: F401 - fixtures
    app_metadata,
    bearer,
    csrf_of,
    http_fixture,
    initial_token_fixture,
    live_fixture,
    portal_login,
    registered,
)
from tests.admin.test_portal import app_form, register_app
from tests.support.server import LiveIdp


async def test_registration_takes_and_returns_required_scope(
        live: LiveIdp, http: httpx.AsyncClient, initial_token: str) -> None:
    info = await registered(http, initial_token, scope="openid profile email",
                            required_scope="email openid")
    assert info["required_scope"] == "email"
    client = await get_client(live.services.db, info["client_id"])
    assert client is not None and client.extra["required_scopes"] == ["email"]

    path = "/register/" + info["client_id"]
    token = bearer(info["registration_access_token"])
    read = (await http.get(path, headers=token)).json()
    assert read["required_scope"] == "email"
    body: dict[str, Any] = app_metadata(client_name=info["client_name"],
                                        scope="openid profile email")
    body.update(client_id=info["client_id"], client_secret=info["client_secret"])
    # RFC 7592 §2.2: a PUT replaces the metadata; required_scope left out is cleared
    cleared = await http.put(path, json=body, headers=token)
    assert cleared.status_code == 200, cleared.text
    assert "required_scope" not in cleared.json()
    client = await get_client(live.services.db, info["client_id"])
    assert client is not None and "required_scopes" not in client.extra


async def test_a_required_scope_the_app_does_not_ask_for_is_refused(
        http: httpx.AsyncClient, initial_token: str) -> None:
    response = await http.post("/register", json=app_metadata(
        scope="openid profile", required_scope="phone"),
        headers=bearer(initial_token))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_client_metadata"
    assert "required_scope" in body["error_description"] and "phone" in body["error_description"]
    wrong_type = await http.post("/register", json=app_metadata(required_scope=["email"]),
                                 headers=bearer(initial_token))
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"] == "invalid_client_metadata"


async def test_the_portal_form_marks_scopes_required(live: LiveIdp) -> None:
    developer = await portal_login(live, "developer", "developer123")
    try:
        client_id, _, _ = await register_app(developer, required=["email"])
        client = await get_client(live.services.db, client_id)
        assert client is not None and client.extra["required_scopes"] == ["email"]
        form = await developer.http.get(f"/portal/apps/{client_id}/edit")
        assert 'id="required_email" name="required" value="email" checked' in form.text
        # a scope cannot be required without being asked for: the form says so, nothing changes
        refused = await developer.http.post(f"/portal/apps/{client_id}/edit", data=app_form(
            csrf_of(form.text), scope=["openid", "profile"], required=["email"]))
        assert refused.status_code == 400 and "required_scope" in refused.text
        client = await get_client(live.services.db, client_id)
        assert client is not None and client.scopes == ["openid", "profile", "email",
                                                         "offline_access"]
        saved = await developer.http.post(f"/portal/apps/{client_id}/edit", data=app_form(
            csrf_of(form.text), required=["profile", "offline_access"]))
        assert saved.status_code == 303, saved.text
        client = await get_client(live.services.db, client_id)
        assert client is not None
        assert client.extra["required_scopes"] == ["profile", "offline_access"]
    finally:
        await developer.close()


async def test_an_update_keeps_what_an_admin_decided(
        live: LiveIdp, http: httpx.AsyncClient, initial_token: str) -> None:
    """A developer's PUT replaces the metadata, not the admin's access rule or MFA switch."""
    from idp.admin.service_clients import set_access_rule
    from idp.mfa.client_flag import set_require_mfa
    from idp.sso.access import checked_rule

    info = await registered(http, initial_token)
    await set_access_rule(live.services.db, info["client_id"], checked_rule(["staff"], []))
    await set_require_mfa(live.services.db, info["client_id"])
    body: dict[str, Any] = app_metadata(client_name="Renamed")
    body.update(client_id=info["client_id"], client_secret=info["client_secret"])
    response = await http.put("/register/" + info["client_id"], json=body,
                              headers=bearer(info["registration_access_token"]))
    assert response.status_code == 200, response.text
    client = await get_client(live.services.db, info["client_id"])
    assert client is not None and client.name == "Renamed"
    assert client.extra["access"] == {"groups": ["staff"], "affiliations": []}
    assert client.extra["require_mfa"] is True
