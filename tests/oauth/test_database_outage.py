"""The token endpoint while PostgreSQL is out of reach: 503 temporarily_unavailable with
Retry-After (the client may retry), never a 500, and normal answers again once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.oauth.flow import register, tokens_for
from tests.oauth.test_refresh import SCOPE, refresh
from tests.support.databases import (
    PG_HOST,
    PG_MAINTENANCE_DB,
    PG_PORT,
    PG_USER,
    create_postgres_database,
    drop_postgres_database,
)
from tests.support.server import LiveIdp, start_idp


@pytest.fixture
async def own_database_idp(tmp_path) -> AsyncIterator[tuple[LiveIdp, str]]:  # type: ignore[no-untyped-def]
    """An IdP alone on a PostgreSQL database of its own, which the test may take away."""
    url = await create_postgres_database()
    live = await start_idp(database_url=url, seed=True, keys_dir=tmp_path / "keys")
    try:
        yield live, url.rsplit("/", 1)[1]
    finally:
        await live.stop()
        await drop_postgres_database(url)


async def _admin(sql: str, *args: object) -> None:
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                  database=PG_MAINTENANCE_DB)
    try:
        await admin.execute(sql, *args)
    finally:
        await admin.close()


async def test_refresh_answers_503_while_the_database_is_away(
        own_database_idp: tuple[LiveIdp, str]) -> None:
    live, name = own_database_idp
    client = await register(live, skip_consent=True)
    first = await tokens_for(live, client, scope=SCOPE)

    # as during a failover: every connection ends and new ones are refused for a while
    await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        await _admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                     name)
        away = await refresh(live, client, first["refresh_token"])
    finally:
        await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert away.status_code == 503, away.text
    assert away.json()["error"] == "temporarily_unavailable"
    assert away.headers["retry-after"] and away.headers["cache-control"] == "no-store"

    back = await refresh(live, client, first["refresh_token"])
    assert back.status_code == 200, back.text  # nothing was written while it was away
    assert back.json()["refresh_token"] != first["refresh_token"]
