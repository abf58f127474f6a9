"""Fixtures and helpers for the registration (RFC 7591/7592) and developer portal tests.

Imported explicitly by tests/admin/test_registration*.py and test_portal*.py (tests/admin/
conftest.py belongs to the admin tests). Fixtures are defined as `<name>_fixture` with
`name="<name>"`, so a test module imports `<name>_fixture` and its tests ask for `<name>`.
Every test runs twice, as the engine's tests do: on the embedded defaults (`live_idp`: local
directory, in-process store, SQLite) and as in production (`live_idp_production`: slapd, Redis,
PostgreSQL), over real HTTP, with the demo people.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from idp.db.models import Client
from idp.protocols.oidc.registration_store import issue_initial_access_token
from idp.sso.apps import get_client, invalidate_client
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, query_of
from tests.support.server import LiveIdp


def app_metadata(**overrides: Any) -> dict[str, Any]:
    """Client metadata a campus web app would send (RFC 7591 §2)."""
    metadata: dict[str, Any] = {
        "client_name": "Course Selection " + secrets.token_hex(3),
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile email offline_access",
        "contacts": ["dev@example.edu"],
    }
    metadata.update(overrides)
    return {key: value for key, value in metadata.items() if value is not None}


@pytest.fixture(name="live", params=["embedded", "production"])
def live_fixture(request: pytest.FixtureRequest) -> LiveIdp:
    name = "live_idp" if request.param == "embedded" else "live_idp_production"
    return request.getfixturevalue(name)


@pytest.fixture(name="initial_token")
async def initial_token_fixture(live: LiveIdp) -> str:
    """A fresh initial access token, as `idp clients token` would issue it."""
    token, _ = await issue_initial_access_token(live.services.db, ttl=timedelta(hours=1),
                                                issued_by="tests")
    return token


@pytest.fixture(name="http")
async def http_fixture(live: LiveIdp) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, as a developer's registration script would use."""
    async with live.client() as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(http: httpx.AsyncClient, token: str | None,
                   metadata: dict[str, Any]) -> httpx.Response:
    headers = bearer(token) if token else {}
    return await http.post("/register", json=metadata, headers=headers)


async def registered(http: httpx.AsyncClient, token: str, **overrides: Any) -> dict[str, Any]:
    response = await register(http, token, app_metadata(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def as_registered_client(live: LiveIdp, info: dict[str, Any]) -> RegisteredClient:
    """The engine tests' client handle, for their login-flow helpers."""
    row = await get_client(live.services.db, info["client_id"])
    assert row is not None
    return RegisteredClient(row, info.get("client_secret"))


async def set_status(live: LiveIdp, client_id: str, status: str) -> None:
    """What the admin API's "approve" does (it belongs to the admin engineer): set the status
    and drop the cached row."""
    async with live.services.db() as db, db.begin():
        await db.execute(update(Client).where(Client.client_id == client_id)
                         .values(status=status))
    invalidate_client(live.services.db, client_id)


# --- the developer portal ---------------------------------------------------------------------


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, f"no CSRF field in the page:\n{html[:1500]}"
    return match.group(1)


async def portal_login(live: LiveIdp, username: str, password: str) -> Browser:
    """A browser that opened /portal and walked the real sign-in: portal -> /portal/login ->
    /authorize (portal client) -> login form -> /portal/callback -> the portal again."""
    browser = Browser.open(live)
    first = await browser.http.get("/portal")
    assert first.status_code == 303 and first.headers["location"].startswith("/portal/login")
    arrived = await browser.walk(first, username=username, password=password)
    assert arrived.status_code == 302, arrived.text
    callback = arrived.headers["location"]
    assert callback.startswith(f"{live.settings.issuer}/portal/callback?"), callback
    assert "code" in query_of(callback)
    back = await browser.http.get(callback)
    assert back.status_code == 303 and back.headers["location"] == "/portal", back.text
    return browser
