"""Clients through the admin API: approve a pending client, edit, disable / enable, rotate the
secret (the old one keeps working for the grace period), delete (its refresh tokens revoked).
Every change is seen by the engine at once (its client cache is invalidated)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from idp.db.models import RefreshToken
from idp.sso.apps import client_cache
from tests.admin.support import AdminBackend
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, exchange, register


async def introspect_auth_ok(backend: AdminBackend, client_id: str, secret: str) -> bool:
    """Whether the token endpoint family accepts this client secret (RFC 7662 needs auth)."""
    async with backend.live.client() as http:
        response = await http.post("/introspect", data={"token": "x"}, auth=(client_id, secret))
    return response.status_code == 200


async def code_flow(backend: AdminBackend, client: RegisteredClient, *, scope: str = "openid",
                    redirect_uri: str = REDIRECT) -> httpx.Response:
    browser = Browser.open(backend.live)
    try:
        return await browser.authorize({"response_type": "code", "client_id": client.client_id,
                                        "redirect_uri": redirect_uri, "scope": scope,
                                        "state": "st"})
    finally:
        await browser.close()


async def test_approve_a_pending_client(backend: AdminBackend) -> None:
    client = await register(backend.live, name="Data platform", skip_consent=True, status="pending",
                            scopes=["openid", "profile", "campus"])
    pending = await backend.ok("GET", "/clients", params={"status": "pending"})
    listed = next(c for c in pending if c["client_id"] == client.client_id)
    assert listed["pending_scopes"] == ["campus"]
    assert (await code_flow(backend, client)).status_code == 400  # invalid_client while pending
    approved = await backend.ok("POST", f"/clients/{client.client_id}/approve")
    assert approved["status"] == "active" and approved["pending_scopes"] == []
    response = await code_flow(backend, client)
    assert response.status_code == 302 and "code=" in response.headers["location"]
    again = await backend.api("POST", f"/clients/{client.client_id}/approve")
    assert again.status_code == 409


async def test_edit_is_checked_and_seen_at_once(backend: AdminBackend) -> None:
    client = await register(backend.live, skip_consent=True)
    await client_cache(backend.services.db).get(client.client_id)  # warm the engine's cache
    bad = await backend.api("PATCH", f"/clients/{client.client_id}",
                            json={"redirect_uris": ["javascript:alert(1)"]})
    assert bad.status_code == 422 and "https" in bad.json()["error_description"]
    new_uri = "https://rp.example.edu/new-callback"
    edited = await backend.ok("PATCH", f"/clients/{client.client_id}",
                              json={"redirect_uris": [new_uri], "name": "Renamed app"})
    assert edited["redirect_uris"] == [new_uri] and edited["name"] == "Renamed app"
    response = await code_flow(backend, client, redirect_uri=new_uri)
    assert response.status_code == 302 and response.headers["location"].startswith(new_uri)
    assert (await code_flow(backend, client)).status_code == 400  # the old URI is gone


async def test_disable_and_enable_a_client(backend: AdminBackend) -> None:
    client = await register(backend.live, skip_consent=True)
    await client_cache(backend.services.db).get(client.client_id)
    assert (await backend.ok("POST", f"/clients/{client.client_id}/disable"))["status"] == "disabled"
    assert not await introspect_auth_ok(backend, client.client_id, client.secret or "")
    await backend.ok("POST", f"/clients/{client.client_id}/enable")
    assert await introspect_auth_ok(backend, client.client_id, client.secret or "")


async def test_rotate_secret_keeps_the_old_one_for_the_grace_period(backend: AdminBackend) -> None:
    client = await register(backend.live, skip_consent=True)
    assert client.secret
    rotated = await backend.ok("POST", f"/clients/{client.client_id}/rotate-secret")
    new = rotated["client_secret"]
    assert new != client.secret and rotated["previous_secret_expires"]
    assert await introspect_auth_ok(backend, client.client_id, new)
    assert await introspect_auth_ok(backend, client.client_id, client.secret)
    assert not await introspect_auth_ok(backend, client.client_id, "not-the-secret")


async def test_delete_revokes_refresh_tokens(backend: AdminBackend) -> None:
    client = await register(backend.live, skip_consent=True)
    response = await code_flow(backend, client, scope="openid offline_access")
    code = response.headers["location"].split("code=")[1].split("&")[0]
    tokens = (await exchange(backend.live, client, code)).json()
    assert "refresh_token" in tokens
    deleted = await backend.ok("DELETE", f"/clients/{client.client_id}")
    assert deleted["refresh_tokens_revoked"] == 1
    async with backend.services.db() as db:
        rows = (await db.execute(select(RefreshToken).where(
            RefreshToken.client_id == client.client_id))).scalars().all()
    assert rows and all(row.revoked_at is not None for row in rows)
    async with backend.live.client() as http:
        refreshed = await http.post("/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": tokens["refresh_token"]},
                                    auth=client.basic)
    assert refreshed.status_code in (400, 401)
    assert (await backend.api("GET", f"/clients/{client.client_id}")).status_code == 404
