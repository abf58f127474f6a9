"""Fixtures for the CAS tests: every test runs on the embedded defaults and on slapd + Redis +
PostgreSQL (the same live servers as the OIDC tests), with CAS services registered for it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from idp.db.models import Client
from idp.protocols.cas.registry import create_service
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp
from tests.web.receiver import Receiver, start_receiver


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    name = "live_idp" if request.param == "embedded" else "live_idp_production"
    return request.getfixturevalue(name)


@pytest.fixture
async def browser(live: LiveIdp) -> AsyncIterator[Browser]:
    opened = Browser.open(live)
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
async def slo_receiver() -> AsyncIterator[Receiver]:
    """A CAS service's back end: records the single logout POSTs it is sent."""
    receiver = await start_receiver()
    yield receiver
    await receiver.stop()


def service_url(path: str = "") -> str:
    """A service URL of its own for each test: tickets and registrations never collide."""
    return f"https://app-{secrets.token_hex(4)}.example.edu/cas-login{path}"


async def register_cas(live: LiveIdp, service: str | None = None, **kwargs: object) -> Client:
    kwargs.setdefault("name", "教务系统 Academic Affairs")
    return await create_service(live.services.db, services=[service or service_url()],
                                **kwargs)  # type: ignore[arg-type]
