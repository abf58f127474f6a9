"""The audit log's group commit, on SQLite and PostgreSQL: concurrent events share transactions,
every `record()` returns only once its row is committed, a bad row loses only itself, and
`close()` drains what is queued."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db.audit import Audit
from idp.db.engine import close_engine, open_engine, sessionmaker
from idp.db.models import AuditEvent
from tests.support.databases import PG_HOST, PG_MAINTENANCE_DB, PG_PORT, PG_USER


class Commits:
    """Counts transactions committed on one engine, as the database sees them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "commit", self._seen)

    def _seen(self, _conn: Any) -> None:
        self.count += 1


@pytest.fixture
async def audit_engine(migrated_database: str) -> AsyncIterator[AsyncEngine]:
    """An engine of its own for the Audit under test, so its commits can be counted apart from
    the reads that check its work (those use the shared `engine` fixture)."""
    db_engine = open_engine(migrated_database)
    yield db_engine
    await close_engine(db_engine)


def _actor() -> str:
    # the session-scoped database is shared by every test: each test tags its own events
    return f"audit-{uuid4().hex[:12]}"


async def _rows(engine: AsyncEngine, actor: str) -> list[AuditEvent]:
    async with sessionmaker(engine)() as db:
        found = await db.scalars(select(AuditEvent).where(AuditEvent.actor == actor))
        return list(found)


async def _count(engine: AsyncEngine, actor: str, **detail: Any) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == actor)
    async with engine.connect() as conn:
        if not detail:
            return (await conn.execute(query)).scalar_one()
        # JSON comparison differs per backend: match the detail in Python
        rows = (await conn.execute(select(AuditEvent.detail).where(AuditEvent.actor == actor))).all()
        return sum(1 for (stored,) in rows if all(stored.get(k) == v for k, v in detail.items()))


async def _transactions(engine: AsyncEngine, actor: str, commits: Commits) -> int:
    """How many transactions wrote the actor's rows. PostgreSQL says so itself (the rows of one
    transaction share its xmin), whichever way they were sent; on SQLite the engine counts."""
    if engine.dialect.name != "postgresql":
        return commits.count
    query = text("SELECT count(DISTINCT xmin::text) FROM audit_events WHERE actor = :actor")
    async with engine.connect() as conn:
        return (await conn.execute(query, {"actor": actor})).scalar_one()


async def test_concurrent_records_all_land_in_fewer_transactions(
    audit_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    audit = Audit(sessionmaker(audit_engine))
    commits = Commits(audit_engine)
    actor = _actor()
    before = datetime.now(UTC)

    async def one(n: int) -> int:
        await audit.record("token", "success", actor=actor, client_id="oa", ip="10.0.0.1", n=n)
        # durable on return: another connection already reads it
        return await _count(engine, actor, n=n)

    seen = await asyncio.gather(*(one(n) for n in range(200)))

    assert seen == [1] * 200
    rows = await _rows(engine, actor)
    assert sorted(row.detail["n"] for row in rows) == list(range(200))
    # one transaction for the whole burst (two if the writer woke between arrivals), not 200
    assert 1 <= await _transactions(engine, actor, commits) <= 2
    for row in rows:
        assert (row.kind, row.outcome, row.client_id, row.ip) == ("token", "success", "oa", "10.0.0.1")
        # `at` is filled per row as the ORM default did: aware, UTC, the time of the event
        assert row.at.tzinfo is not None
        assert before <= row.at <= datetime.now(UTC)


async def test_detail_defaults_to_an_empty_object(audit_engine: AsyncEngine, engine: AsyncEngine) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    await audit.record("login", "success", actor=actor)
    await audit.record("admin", "success", actor=actor, action="unlock", targets=["s1", "s2"],
                       note="解锁")

    rows = sorted(await _rows(engine, actor), key=lambda row: row.kind)
    assert [row.detail for row in rows] == [
        {"action": "unlock", "targets": ["s1", "s2"], "note": "解锁"},
        {},
    ]
    assert [(row.client_id, row.ip) for row in rows] == [(None, None), (None, None)]


async def _hold_audit_table(blocker: Any, database_url: str) -> None:
    """Keep the audit transaction from committing until `blocker` ends."""
    if database_url.startswith("postgresql"):
        await blocker.execute(text("LOCK TABLE audit_events IN EXCLUSIVE MODE"))
    else:  # SQLite: an open write transaction holds the database's single write lock
        await blocker.execute(insert(AuditEvent.__table__), {
            "at": datetime.now(UTC), "kind": "blocker", "outcome": "ok", "actor": _actor(),
            "detail": {}})


async def test_record_returns_only_after_its_row_is_committed(
    audit_engine: AsyncEngine, engine: AsyncEngine, migrated_database: str
) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    async with engine.begin() as blocker:
        await _hold_audit_table(blocker, migrated_database)
        pending = asyncio.create_task(audit.record("login", "success", actor=actor))
        await asyncio.sleep(0.5)
        assert not pending.done()
    await asyncio.wait_for(pending, 20)
    assert await _count(engine, actor) == 1


async def test_a_row_that_cannot_be_encoded_loses_only_itself(
    audit_engine: AsyncEngine, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()

    async def one(n: int) -> None:
        detail: dict[str, Any] = {"n": n}
        if n == 17:
            detail["blob"] = object()  # not JSON
        await audit.record("token", "success" if n != 17 else "bad", actor=actor, **detail)

    with caplog.at_level(logging.WARNING, logger="idp.audit"):
        await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(50))), 20)

    rows = await _rows(engine, actor)
    assert sorted(row.detail["n"] for row in rows) == [n for n in range(50) if n != 17]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "idp.audit"]
    assert len(failures) == 1
    assert "token bad " + actor in failures[0].getMessage()
    assert failures[0].exc_info is not None


async def test_a_row_the_database_refuses_loses_only_itself(
    audit_engine: AsyncEngine, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()

    async def one(n: int) -> None:
        # kind is NOT NULL: the database itself refuses the row, inside the batch's executemany
        kind: Any = None if n == 3 else "token"
        await audit.record(kind, "success", actor=actor, n=n)

    with caplog.at_level(logging.WARNING, logger="idp.audit"):
        await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(10))), 20)

    rows = await _rows(engine, actor)
    assert sorted(row.detail["n"] for row in rows) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "idp.audit"]
    assert [r.getMessage() for r in failures] == [f"audit write failed: None success {actor}"]


async def test_a_database_without_the_table_logs_and_never_raises_or_hangs(
    empty_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = open_engine(empty_database)
    audit = Audit(sessionmaker(broken))
    try:
        with caplog.at_level(logging.ERROR, logger="idp.audit"):
            await asyncio.wait_for(
                asyncio.gather(*(audit.record("login", "success", actor=f"u{n}") for n in range(5))),
                20,
            )
            await asyncio.wait_for(audit.close(), 20)
    finally:
        await close_engine(broken)
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "idp.audit")
    assert "audit write failed" in logged
    assert all(f"u{n}" in logged for n in range(5))


async def test_record_behind_returns_before_the_commit_and_close_writes_it(
    audit_engine: AsyncEngine, engine: AsyncEngine, migrated_database: str
) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    async with engine.begin() as blocker:
        await _hold_audit_table(blocker, migrated_database)
        for n in range(3):
            # returns although nothing can be committed while the table is held
            await asyncio.wait_for(audit.record_behind("token", "success", actor=actor,
                                                       client_id="svc", n=n), 1)
        await asyncio.sleep(0.2)
    await asyncio.wait_for(audit.close(), 20)
    rows = await _rows(engine, actor)
    assert sorted(row.detail["n"] for row in rows) == [0, 1, 2]
    assert {(row.kind, row.outcome, row.client_id) for row in rows} == {("token", "success", "svc")}


async def test_record_behind_waits_once_the_backlog_is_full(
    audit_engine: AsyncEngine, engine: AsyncEngine, migrated_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("idp.db.audit.MAX_BEHIND", 5)
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    async with engine.begin() as blocker:
        await _hold_audit_table(blocker, migrated_database)
        for n in range(5):
            await asyncio.wait_for(audit.record_behind("token", "success", actor=actor, n=n), 1)
        # the writer has taken some as its batch (blocked on the table); fill the queue again
        while len(audit._pending) < 5:
            await audit.record_behind("token", "success", actor=actor, n=-1)
        waiting = asyncio.create_task(audit.record_behind("token", "success", actor=actor, n=99))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # a full backlog: it waits for its commit, as record() does
    await asyncio.wait_for(waiting, 20)
    assert await _count(engine, actor, n=99) == 1
    await audit.close()


async def test_events_nobody_waits_for_linger_to_share_a_transaction(
    audit_engine: AsyncEngine, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("idp.db.audit.BEHIND_LINGER", 0.3)
    audit = Audit(sessionmaker(audit_engine))
    commits = Commits(audit_engine)
    actor = _actor()
    for n in range(4):  # a trickle: each would otherwise be a transaction of its own
        await audit.record_behind("token", "success", actor=actor, n=n)
        await asyncio.sleep(0.02)
    await audit.close()
    assert await _count(engine, actor) == 4
    assert await _transactions(engine, actor, commits) == 1


async def test_an_event_someone_waits_for_cuts_the_linger_short(
    audit_engine: AsyncEngine, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("idp.db.audit.BEHIND_LINGER", 30.0)
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    await audit.record_behind("token", "success", actor=actor, n=0)
    await asyncio.sleep(0.05)  # the writer is lingering now
    await asyncio.wait_for(audit.record("login", "success", actor=actor), 5)
    assert await _count(engine, actor) == 2
    await asyncio.wait_for(audit.close(), 5)


async def test_caught_up_returns_once_the_events_queued_behind_are_written(
    audit_engine: AsyncEngine, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reader that must see the tokens just issued (written behind) waits for them, and only
    for them: the linger is cut short, and nothing else is asked of the writer."""
    monkeypatch.setattr("idp.db.audit.BEHIND_LINGER", 30.0)
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    await asyncio.wait_for(audit.caught_up(), 1)  # nothing queued: at once
    for n in range(3):
        await audit.record_behind("token", "success", actor=actor, n=n)
    await asyncio.wait_for(audit.caught_up(), 5)
    assert await _count(engine, actor) == 3
    # the marker's batch wrote nothing of its own, and the writer goes on as before
    await asyncio.wait_for(audit.record("login", "success", actor=actor), 5)
    assert await _count(engine, actor) == 4
    await asyncio.wait_for(audit.close(), 5)


async def test_caught_up_waits_for_the_batch_being_written(
    audit_engine: AsyncEngine, engine: AsyncEngine, migrated_database: str,
) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    async with engine.begin() as blocker:
        await _hold_audit_table(blocker, migrated_database)
        await audit.record_behind("token", "success", actor=actor, n=0)
        await asyncio.sleep(0.2)  # the writer took it and waits for the table
        assert not audit._pending
        reader = asyncio.create_task(audit.caught_up())
        await asyncio.sleep(0.3)
        assert not reader.done()
    await asyncio.wait_for(reader, 20)
    assert await _count(engine, actor) == 1
    await audit.close()


async def test_close_waits_for_queued_events(audit_engine: AsyncEngine, engine: AsyncEngine) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    callers = [asyncio.create_task(audit.record("logout", "success", actor=actor, n=n))
               for n in range(100)]
    await asyncio.sleep(0)  # every caller has queued its event; none is written yet
    assert await _count(engine, actor) == 0

    await audit.close()

    # checked before anything else yields: every caller was already answered when close returned
    assert all(caller.done() for caller in callers)
    assert await _count(engine, actor) == 100
    await audit.close()  # nothing queued: returns at once


def _cli_style(url: str, actor: str) -> None:
    """As `idp clients …` does: the Audit is made outside any loop and used from asyncio.run,
    once per command; each run disposes of the engine at the end."""
    db_engine = open_engine(url)
    audit = Audit(sessionmaker(db_engine))

    async def command(n: int) -> None:
        try:
            await audit.record("admin", "success", actor=actor, run=n)
        finally:
            await close_engine(db_engine)

    asyncio.run(command(1))
    asyncio.run(command(2))


async def test_an_audit_used_from_one_event_loop_after_another(
    migrated_database: str, engine: AsyncEngine
) -> None:
    actor = _actor()
    await asyncio.to_thread(_cli_style, migrated_database, actor)
    assert sorted(row.detail["run"] for row in await _rows(engine, actor)) == [1, 2]


# --- PostgreSQL: surviving a server restart without a ping per checkout -----------------------

async def _backend_pids(db_engine: AsyncEngine, count: int) -> set[int]:
    """Check out `count` connections at once and return their server process ids."""
    async def pid() -> int:
        async with db_engine.connect() as conn:
            await asyncio.sleep(0.05)  # hold it so the others must open their own
            return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

    return set(await asyncio.gather(*(pid() for _ in range(count))))


async def _terminate(pids: set[int]) -> None:
    """What a restart does to every open connection: the server ends it. Waits until the server
    processes are gone, as they are before a restarted server accepts connections again."""
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                  database=PG_MAINTENANCE_DB)
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
                            list(pids))
        for _ in range(100):
            alive = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids))
            if alive == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"backends {pids} still alive")
    finally:
        await admin.close()


@pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True)
async def test_connections_the_server_closed_are_replaced_before_use(
    audit_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    audit = Audit(sessionmaker(audit_engine))
    actor = _actor()
    killed = await _backend_pids(audit_engine, 3)
    assert len(killed) == 3
    await _terminate(killed)

    # every pooled connection is dead; the next checkouts must not hand one out
    await audit.record("login", "success", actor=actor)
    assert await _count(engine, actor) == 1
    fresh = await _backend_pids(audit_engine, 3)
    assert not fresh & killed
