"""Device sign-in runs on the embedded defaults (local directory, in-process store, SQLite) and
as in production (slapd, Redis, PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.support.server import LiveIdp


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    name = "live_idp" if request.param == "embedded" else "live_idp_production"
    return request.getfixturevalue(name)
