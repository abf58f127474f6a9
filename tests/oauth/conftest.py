"""Fixtures for the protocol engine tests: the live server (tests/conftest.py) and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.oauth.flow import Browser, RegisteredClient, register
from tests.support.server import LiveIdp


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    """Every protocol test runs twice: on the embedded defaults (local directory, in-process
    store, SQLite) and as in production (slapd, Redis, PostgreSQL)."""
    name = "live_idp" if request.param == "embedded" else "live_idp_production"
    return request.getfixturevalue(name)


@pytest.fixture
async def browser(live: LiveIdp) -> AsyncIterator[Browser]:
    opened = Browser.open(live)
    yield opened
    await opened.close()


@pytest.fixture
async def confidential(live: LiveIdp) -> RegisteredClient:
    """client_secret_basic, authorization_code + refresh_token, the default scopes."""
    return await register(live)


@pytest.fixture
async def first_party(live: LiveIdp) -> RegisteredClient:
    """A campus app that skips the consent page."""
    return await register(live, skip_consent=True)
