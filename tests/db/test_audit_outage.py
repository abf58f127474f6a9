"""The audit log while PostgreSQL is out of reach (idp/db/audit.py, "the database away"): events
are held and written by themselves once it is back, each with the time it happened; past the
backlog the action is refused; close() logs in full what it still cannot write. The database is
the real server, behind a CutProxy (tests/support/cut.py) that refuses and drops connections."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db import audit as audit_module
from idp.db.audit import Audit
from idp.db.engine import close_engine, open_engine, sessionmaker
from idp.db.migrate import upgrade
from idp.db.models import AuditEvent
from idp.db.pg_direct import DatabaseUnavailable
from tests.support.cut import CutProxy
from tests.support.databases import PG_HOST, PG_PORT, PG_USER, postgres_database

# the retry pauses double up to RETRY_MAX: a held event is written within it once the database
# is back (plus the write itself)
WRITTEN_WITHIN = audit_module.RETRY_MAX + 5.0


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    async with postgres_database() as url:
        await upgrade(url)
        yield url


@pytest.fixture
def proxy() -> Iterator[CutProxy]:
    with CutProxy(PG_HOST, PG_PORT, name="postgresql") as started:
        yield started


@pytest.fixture
async def reader(database: str) -> AsyncIterator[AsyncEngine]:
    """Reads the table straight from the server, past the proxy."""
    engine = open_engine(database, pool_size=1)
    yield engine
    await close_engine(engine)


@pytest.fixture
async def through_proxy(database: str, proxy: CutProxy) -> AsyncIterator[AsyncEngine]:
    name = database.rsplit("/", 1)[1]
    engine = open_engine(f"postgresql://{PG_USER}@127.0.0.1:{proxy.port}/{name}")
    yield engine
    proxy.restore()
    await close_engine(engine)


async def _count(engine: AsyncEngine, actor: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == actor)
        return (await conn.execute(query)).scalar_one()


async def _written(engine: AsyncEngine, actor: str, expected: int, within: float) -> float:
    """Seconds until `expected` rows of the actor are in the table (no flush asked for)."""
    started = time.monotonic()
    while (found := await _count(engine, actor)) < expected:
        assert time.monotonic() - started < within, f"{found} of {expected} rows after {within}s"
        await asyncio.sleep(0.1)
    assert found == expected
    return time.monotonic() - started


def _actor() -> str:
    return f"held-{uuid4().hex[:12]}"


async def test_events_recorded_while_the_database_is_away_are_written_once_it_is_back(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy) -> None:
    audit = Audit(sessionmaker(through_proxy))
    actor = _actor()
    await audit.record("login", "success", actor=actor, n=-1)  # the connection is open and used
    proxy.cut()
    started = time.monotonic()
    await asyncio.gather(*(audit.record("login", "success", actor=actor, n=n) for n in range(20)),
                         *(audit.record_behind("token", "success", actor=actor, n=100 + n)
                           for n in range(5)))
    recorded_by = datetime.now(UTC)
    # nobody waits for a commit that cannot come: each call returned once its event was held
    assert time.monotonic() - started < 2.0
    assert audit.held == 25
    await asyncio.sleep(1.0)  # retries meanwhile find the database still away
    assert audit.held == 25 and await _count(reader, actor) == 1

    proxy.restore()
    await _written(reader, actor, 26, WRITTEN_WITHIN)
    assert audit.held == 0
    async with sessionmaker(reader)() as db:
        rows = list(await db.scalars(select(AuditEvent).where(AuditEvent.actor == actor)))
    assert sorted(row.detail["n"] for row in rows) == [-1, *range(20), *range(100, 105)]
    # each keeps the time it happened (before the database was back), not when it was written
    assert all(row.at <= recorded_by for row in rows)
    # and the log back to normal: the next record waits for its commit, as always
    await audit.record("login", "success", actor=actor, n=999)
    assert await _count(reader, actor) == 27
    await audit.close()


async def test_past_the_backlog_the_action_is_refused_not_done_unaudited(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy) -> None:
    audit = Audit(sessionmaker(through_proxy), backlog=5)
    actor = _actor()
    proxy.cut()
    for n in range(5):
        await audit.record("admin", "success", actor=actor, n=n)
    with pytest.raises(DatabaseUnavailable, match="IDP_AUDIT_BACKLOG"):
        await audit.record("admin", "success", actor=actor, n=5)
    with pytest.raises(DatabaseUnavailable):
        await audit.record_behind("token", "success", actor=actor, n=6)
    assert audit.held == 5

    proxy.restore()
    await _written(reader, actor, 5, WRITTEN_WITHIN)
    await audit.record("admin", "success", actor=actor, n=7)  # room again
    assert await _count(reader, actor) == 6
    await audit.close()


async def test_a_backlog_of_zero_refuses_every_audited_action_while_the_database_is_away(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy) -> None:
    audit = Audit(sessionmaker(through_proxy), backlog=0)
    actor = _actor()
    proxy.cut()
    # the first finds out: its event was in flight, so it is kept (and written later)
    await audit.record("login", "success", actor=actor, n=0)
    with pytest.raises(DatabaseUnavailable):
        await audit.record("login", "success", actor=actor, n=1)
    proxy.restore()
    await _written(reader, actor, 1, WRITTEN_WITHIN)
    await audit.close()


async def test_close_logs_in_full_what_it_still_cannot_write(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "CLOSE_WAIT", 1.0)
    audit = Audit(sessionmaker(through_proxy))
    actor = _actor()
    proxy.cut()
    for n in range(3):
        await audit.record("login", "success", actor=actor, client_id="hall", ip="10.1.2.3", n=n)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="idp.audit"):
        await asyncio.wait_for(audit.close(), 10)
    assert time.monotonic() - started < 5.0  # CLOSE_WAIT, then the log: no hang at shutdown
    lines = [r.getMessage() for r in caplog.records if r.name == "idp.audit"
             and r.getMessage().startswith("audit event not written: ")]
    logged: list[dict[str, Any]] = [json.loads(line.split(": ", 1)[1]) for line in lines]
    assert sorted(e["detail"]["n"] for e in logged) == [0, 1, 2]
    assert {(e["kind"], e["outcome"], e["actor"], e["client_id"], e["ip"]) for e in logged} == {
        ("login", "success", actor, "hall", "10.1.2.3")}
    assert all(e["at"] for e in logged)
    proxy.restore()
    await asyncio.sleep(audit_module.RETRY_FIRST * 4)
    assert await _count(reader, actor) == 0  # logged instead: never written twice


async def test_a_database_that_drops_connections_mid_run_loses_no_event(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy) -> None:
    """Events arrive all the time; the database goes away twice and comes back: each event is
    written exactly once."""
    audit = Audit(sessionmaker(through_proxy))
    actor = _actor()
    stop = asyncio.Event()
    sent = 0

    async def steady() -> None:
        nonlocal sent
        while not stop.is_set():
            await asyncio.gather(*(audit.record("token", "success", actor=actor, n=sent + i)
                                   for i in range(5)))
            sent += 5
            await asyncio.sleep(0.01)

    running = asyncio.create_task(steady())
    for _ in range(2):
        await asyncio.sleep(0.4)
        await asyncio.to_thread(proxy.cut, reset=True)
        await asyncio.sleep(0.6)
        await asyncio.to_thread(proxy.restore)
    await asyncio.sleep(0.3)
    stop.set()
    await running
    await _written(reader, actor, sent, WRITTEN_WITHIN)
    async with sessionmaker(reader)() as db:
        numbers = list(await db.scalars(select(AuditEvent.detail).where(AuditEvent.actor == actor)))
    assert sorted(d["n"] for d in numbers) == list(range(sent))
    await audit.close()


async def test_a_minute_of_machine_tokens_is_held_and_written_like_any_event(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy) -> None:
    """IDP_AUDIT_MACHINE_TOKENS=summary while the database is away: the tokens are counted, the
    minute's row is held when the minute ends, and written with its count once it is back."""
    audit = Audit(sessionmaker(through_proxy))
    client = _actor()
    await audit.record("login", "success", actor=client, n=-1)  # the connection is open and used
    proxy.cut()
    for _ in range(7):
        await audit.record_machine("token", "success", actor=client, client_id=client,
                                   grant="client_credentials", scope="api.read")
    audit._flush_minutes(every=True)  # what the timer does when the minute ends
    await asyncio.sleep(0.5)
    assert audit.held == 1 and await _count(reader, client) == 1

    proxy.restore()
    await _written(reader, client, 2, WRITTEN_WITHIN)
    async with sessionmaker(reader)() as db:
        row = await db.scalar(select(AuditEvent).where(AuditEvent.actor == client,
                                                       AuditEvent.kind == "token"))
    assert row is not None and row.detail["count"] == 7
    await audit.close()
