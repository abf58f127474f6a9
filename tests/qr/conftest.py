"""QR sign-in tests run on both deployments: the embedded one (in-process store, SQLite, local
directory) and the production one (Redis, PostgreSQL, slapd)."""

from __future__ import annotations

import pytest

from tests.support.server import LiveIdp


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    name = "live_idp" if request.param == "embedded" else "live_idp_production"
    return request.getfixturevalue(name)
