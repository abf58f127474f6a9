"""The hot-path statements sent straight through asyncpg (idp/db/pg_direct.py), against the real
PostgreSQL: they survive a server restart without a ping per use, an unreachable server is a
typed outage (DatabaseUnavailable, a 503 upstream) rather than a bare driver error, and a closed
pool reopens for the next event loop; checkouts share at most `size` connections and wait
for one at most the timeout. What the statements write is checked by the ledger and
audit contract tests, which run on SQLite (Core) and PostgreSQL (this path) alike."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db import pg_direct as pg_direct_module
from idp.db.engine import close_engine, open_engine
from idp.db.pg_direct import (
    Connections,
    DatabaseUnavailable,
    PgDirect,
    close_pg_direct,
    pg_direct,
)
from tests.support.databases import PG_HOST, PG_MAINTENANCE_DB, PG_PORT, PG_USER

pytestmark = pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True)


def _row(rotated_from: str | None = None) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"digest": secrets.token_hex(32), "family_id": secrets.token_urlsafe(24),
            "client_id": "direct-test", "subject": "s-" + secrets.token_hex(4),
            "scope": "openid", "sid": None, "auth_time": 1_700_000_000, "acr": None,
            "amr": ["pwd", "otp"], "nonce": "n", "expires_at": now + timedelta(days=1),
            "created_at": now}


async def _server_pids(database: str) -> set[int]:
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                  database=PG_MAINTENANCE_DB)
    try:
        rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        return {row["pid"] for row in rows}
    finally:
        await admin.close()


async def _terminate(database: str) -> set[int]:
    """What a restart does: the server ends every connection to the database."""
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                  database=PG_MAINTENANCE_DB)
    try:
        killed = {row["pid"] for row in await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", database)}
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
                            list(killed))
        for _ in range(100):
            if not await _server_pids(database) & killed:
                return killed
            await asyncio.sleep(0.05)
        raise AssertionError("backends still alive")
    finally:
        await admin.close()


async def test_rows_round_trip_and_survive_a_server_restart(migrated_database: str) -> None:
    engine = open_engine(migrated_database)
    direct = pg_direct(engine)
    assert direct is not None
    try:
        first = _row()
        await direct.insert_refresh(first)
        found = await direct.refresh_row(str(first["digest"]))
        assert found is not None and found["amr"] == ["pwd", "otp"]
        assert found["expires_at"] == first["expires_at"] and found["rotated_at"] is None

        killed = await _terminate(engine.url.database or "")
        assert killed  # the pool's connections were among them
        second = _row()
        assert await direct.rotate_refresh(second, str(first["digest"]), datetime.now(UTC))
        assert not await direct.rotate_refresh(_row(), str(first["digest"]), datetime.now(UTC))
        rotated = await direct.refresh_row(str(first["digest"]))
        assert rotated is not None and rotated["rotated_at"] is not None
        assert await direct.refresh_row(str(second["digest"])) is not None
    finally:
        await close_engine(engine)


async def test_an_unreachable_server_is_a_typed_outage(migrated_database: str) -> None:
    engine = open_engine(migrated_database.replace(f":{PG_PORT}/", ":1/"))  # nothing listens
    direct = PgDirect(engine)
    try:
        with pytest.raises(DatabaseUnavailable):
            await direct.refresh_row("0" * 64)
        with pytest.raises(DatabaseUnavailable):  # a failed open is retried, not remembered
            await direct.refresh_row("0" * 64)
    finally:
        await direct.close()
        await engine.dispose()


async def test_closing_leaves_no_connection_and_a_later_loop_reopens(
        migrated_database: str, engine: AsyncEngine) -> None:
    db_engine = open_engine(migrated_database)
    name = db_engine.url.database or ""
    direct = pg_direct(db_engine)
    assert direct is not None
    before = await _server_pids(name)

    def in_new_loop() -> None:
        async def use() -> None:
            await direct.insert_refresh(_row())
            await close_pg_direct(db_engine)
        asyncio.run(use())
        asyncio.run(use())  # the same object, a new loop: a new pool, closed again

    await asyncio.to_thread(in_new_loop)
    await db_engine.dispose()
    assert await _server_pids(name) <= before


async def test_concurrent_statements_share_at_most_size_connections(
        migrated_database: str) -> None:
    engine = open_engine(migrated_database)
    name = engine.url.database or ""
    direct = PgDirect(engine, size=2)
    before = await _server_pids(name)
    try:
        rows = [_row() for _ in range(30)]
        await asyncio.gather(*(direct.insert_refresh(row) for row in rows))
        found = await asyncio.gather(*(direct.refresh_row(str(row["digest"])) for row in rows))
        assert [f["digest"] for f in found if f] == [row["digest"] for row in rows]
        assert len(await _server_pids(name) - before) == 2  # kept open, and never more
    finally:
        await direct.close()
        await engine.dispose()
    assert await _server_pids(name) <= before


async def test_a_checkout_waits_for_a_release_at_most_the_timeout(
        migrated_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_direct_module, "TIMEOUT_SECONDS", 0.3)
    engine = open_engine(migrated_database)
    connections = Connections(engine.dialect.create_connect_args(engine.url), 1,
                              asyncio.get_running_loop())
    try:
        held = await connections.acquire()
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="no database connection free"):
            await connections.acquire()
        assert 0.25 <= time.monotonic() - started < 2
        # a release hands the connection to the next in line
        waiting = asyncio.ensure_future(connections.acquire())
        await asyncio.sleep(0.01)
        connections.release(held)
        assert await waiting is held
        # a waiter cancelled after the hand-over gives the connection back
        waiting = asyncio.ensure_future(connections.acquire())
        await asyncio.sleep(0.01)
        connections.release(held)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await connections.acquire() is held
        # a connection the server closed is replaced by a new one
        pid = held.get_server_pid()
        await _terminate(engine.url.database or "")
        for _ in range(100):
            if held.is_closed():
                break
            await asyncio.sleep(0.02)
        connections.release(held)
        fresh = await connections.acquire()
        assert fresh is not held and fresh.get_server_pid() != pid
        assert await fresh.fetchval("SELECT 1") == 1
        connections.release(fresh)
    finally:
        await connections.close()
        await engine.dispose()


async def test_claims_made_together_share_one_statement(migrated_database: str) -> None:
    """Twenty grants claiming at once take one connection (one statement, idp/db/grouped.py),
    where one statement each would take all four; the connections keep the hot-path settings."""
    engine = open_engine(migrated_database)
    name = engine.url.database or ""
    direct = PgDirect(engine, size=4)
    before = await _server_pids(name)
    try:
        rows = [_row() for _ in range(20)]
        for row in rows:
            await direct.insert_refresh(row)
        now = datetime.now(UTC)
        successors = [secrets.token_hex(32) for _ in rows]
        found = await asyncio.gather(*(
            direct.claim_refresh(str(row["digest"]), successor, "direct-test", now)
            for row, successor in zip(rows, successors, strict=True)))
        assert [f["digest"] for f in found if f] == [row["digest"] for row in rows]
        assert len(await _server_pids(name) - before) == 1
        for successor in successors:
            assert await direct.refresh_row(successor) is not None
        settings = await direct._run("fetchrow", "SELECT current_setting('plan_cache_mode') AS"
                                     " plans, current_setting('enable_seqscan') AS seqscan")
        assert (settings["plans"], settings["seqscan"]) == ("force_generic_plan", "off")
    finally:
        await direct.close()
        await engine.dispose()


async def test_of_two_processes_claiming_one_token_at_once_one_wins(
        migrated_database: str) -> None:
    """Two replicas' groups race on their own connections: PostgreSQL lets one claim win."""
    engine = open_engine(migrated_database)
    replicas = [PgDirect(engine), PgDirect(engine)]
    try:
        for _ in range(10):
            row = _row()
            await replicas[0].insert_refresh(row)
            now = datetime.now(UTC)
            successors = [secrets.token_hex(32) for _ in replicas]
            found = await asyncio.gather(*(
                replica.claim_refresh(str(row["digest"]), successor, "direct-test", now)
                for replica, successor in zip(replicas, successors, strict=True)))
            winners = [s for s, f in zip(successors, found, strict=True) if f is not None]
            assert len(winners) == 1, found
            assert await replicas[0].refresh_row(winners[0]) is not None
            for lost in set(successors) - set(winners):
                assert await replicas[0].refresh_row(lost) is None
    finally:
        for replica in replicas:
            await replica.close()
        await engine.dispose()
