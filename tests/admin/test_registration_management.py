"""RFC 7592 client configuration: GET, PUT and DELETE /register/{client_id} with the
registration access token, by a plain HTTP client against the real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from idp.db.models import Client, Consent, RefreshToken
from tests.admin.conftest_registration import (  # noqa: F401 - fixtures
    app_metadata,
    as_registered_client,
    bearer,
    http_fixture,
    initial_token_fixture,
    live_fixture,
    registered,
    set_status,
)
from tests.oauth.flow import tokens_for
from tests.support.server import LiveIdp


def path_of(info: dict[str, Any]) -> str:
    return "/register/" + info["client_id"]


def update_body(info: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = app_metadata(client_name=info["client_name"])
    body["client_id"] = info["client_id"]
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


async def test_read_returns_the_stored_configuration(http: httpx.AsyncClient,
                                                     initial_token: str) -> None:
    info = await registered(http, initial_token)
    response = await http.get(path_of(info), headers=bearer(info["registration_access_token"]))
    assert response.status_code == 200, response.text
    read = response.json()
    assert read["client_id"] == info["client_id"]
    assert read["redirect_uris"] == info["redirect_uris"]
    assert read["registration_client_uri"] == info["registration_client_uri"]
    assert read["registration_access_token"] == info["registration_access_token"]
    assert "client_secret" not in read  # only its digest is kept
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_wrong_or_missing_registration_token_is_401(http: httpx.AsyncClient,
                                                          initial_token: str,
                                                          method: str) -> None:
    info = await registered(http, initial_token)
    other = await registered(http, initial_token)
    for headers in ({}, bearer("wrong"), bearer(other["registration_access_token"]),
                    bearer(initial_token)):
        response = await http.request(method, path_of(info), headers=headers,
                                      json=update_body(info))
        assert response.status_code == 401, (method, headers, response.text)
    still = await http.get(path_of(info), headers=bearer(info["registration_access_token"]))
    assert still.status_code == 200 and still.json()["client_name"] == info["client_name"]


async def test_unknown_client_is_401(http: httpx.AsyncClient, initial_token: str) -> None:
    info = await registered(http, initial_token)
    response = await http.get("/register/no-such-client",
                              headers=bearer(info["registration_access_token"]))
    assert response.status_code == 401


async def test_update_replaces_the_metadata(live: LiveIdp, http: httpx.AsyncClient,
                                            initial_token: str) -> None:
    info = await registered(http, initial_token)
    token = bearer(info["registration_access_token"])
    body = update_body(info, client_name="Renamed", client_secret=info["client_secret"],
                       redirect_uris=["https://rp.example.edu/cb", "https://rp.example.edu/cb2"],
                       contacts=None)
    response = await http.put(path_of(info), json=body, headers=token)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["client_name"] == "Renamed"
    assert updated["redirect_uris"] == body["redirect_uris"]
    assert updated["contacts"] == []  # omitted in a PUT: removed (RFC 7592 §2.2)
    # the engine sees the change at once (the client cache was invalidated)
    client = await as_registered_client(live, info)
    assert client.row.redirect_uris == body["redirect_uris"]
    assert (await http.get(path_of(info), headers=token)).json()["client_name"] == "Renamed"


@pytest.mark.parametrize("changes, error", [
    ({"client_secret": "not-the-secret"}, "invalid_request"),
    ({"client_id": "another-client"}, "invalid_request"),
    ({"client_id": None}, "invalid_request"),
    ({"registration_access_token": "x"}, "invalid_request"),
    ({"client_id_issued_at": 1}, "invalid_request"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "none"}, "invalid_client_metadata"),  # would lose the secret
])
async def test_bad_updates_are_refused_and_change_nothing(
        http: httpx.AsyncClient, initial_token: str, changes: dict[str, Any],
        error: str) -> None:
    info = await registered(http, initial_token)
    token = bearer(info["registration_access_token"])
    response = await http.put(path_of(info), json=update_body(info, client_name="Changed",
                                                              **changes), headers=token)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert (await http.get(path_of(info), headers=token)).json()["client_name"] == \
        info["client_name"]


async def test_update_with_bad_json_is_400(http: httpx.AsyncClient, initial_token: str) -> None:
    info = await registered(http, initial_token)
    response = await http.put(path_of(info), content=b"{oops", headers={
        **bearer(info["registration_access_token"]), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


async def test_asking_for_a_new_scope_needs_approval_again(live: LiveIdp,
                                                           http: httpx.AsyncClient,
                                                           initial_token: str) -> None:
    info = await registered(http, initial_token, scope="openid campus")
    assert info["status"] == "pending"
    await set_status(live, info["client_id"], "active")  # the admin approves campus
    token = bearer(info["registration_access_token"])

    same = await http.put(path_of(info), json=update_body(info, scope="openid profile campus"),
                          headers=token)
    assert same.json()["status"] == "active"  # profile is basic, campus was approved
    more = await http.put(path_of(info), json=update_body(info, scope="openid campus groups"),
                          headers=token)
    assert more.json()["status"] == "pending"  # groups was never approved


async def test_delete_removes_the_client_and_revokes_its_refresh_tokens(
        live: LiveIdp, http: httpx.AsyncClient, initial_token: str) -> None:
    info = await registered(http, initial_token)
    client = await as_registered_client(live, info)
    tokens = await tokens_for(live, client, scope="openid profile offline_access")
    assert tokens["refresh_token"]
    token = bearer(info["registration_access_token"])

    response = await http.delete(path_of(info), headers=token)
    assert response.status_code == 204

    async with live.services.db() as db:
        assert await db.get(Client, info["client_id"]) is None
        rows = (await db.execute(select(RefreshToken).where(
            RefreshToken.client_id == info["client_id"]))).scalars().all()
        consents = (await db.execute(select(Consent).where(
            Consent.client_id == info["client_id"]))).scalars().all()
    assert rows and all(row.revoked_at is not None for row in rows)
    assert consents == []
    refreshed = await http.post("/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(info["client_id"], info["client_secret"]))
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_client"
    # RFC 7592 §2.3: afterwards the client is gone for its own token too
    assert (await http.get(path_of(info), headers=token)).status_code == 401
