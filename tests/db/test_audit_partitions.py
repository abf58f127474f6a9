"""PostgreSQL's audit log by month (migration 0012_retention, idp/db/partitions.py): the
conversion keeps every row, ids and all; the purge drops whole months past retention, after
writing them to IDP_RETENTION_EXPORT_DIR with a checksum; and the downgrade converts back.
(SQLite keeps one table: tests/db/test_purge.py covers its batched delete.)"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db.audit import Audit
from idp.db.engine import close_engine, open_engine, sessionmaker
from idp.db.migrate import alembic_config, upgrade
from idp.db.models import AuditEvent
from idp.db.partitions import month_name, month_start
from idp.db.purge import run_purge
from idp.settings import RetentionSettings
from tests.support.databases import postgres_database

NOW = datetime.now(UTC)
# days ago of the rows written before the conversion: over 13 months, a few per month
AGES = [430, 420, 400, 390, 380, 370, 200, 100, 40, 35, 20, 3, 0]


@pytest.fixture
async def old_schema() -> AsyncIterator[tuple[str, AsyncEngine]]:
    """PostgreSQL at the revision before the conversion, with audit rows over 14 months."""
    async with postgres_database() as url:
        await upgrade(url, "0010_activation")
        engine = open_engine(url, pool_size=3)
        async with engine.begin() as conn:
            await conn.execute(insert(AuditEvent), [
                {"at": NOW - timedelta(days=days), "kind": "token" if n % 2 else "login",
                 "outcome": "success", "actor": f"person-{n}", "client_id": "hall", "ip": None,
                 "detail": {"grant": "client_credentials"} if n % 2 else {"n": n}}
                for n, days in enumerate(AGES)])
        yield url, engine
        await close_engine(engine)


async def _rows(engine: AsyncEngine) -> list[tuple]:
    async with engine.connect() as conn:
        result = await conn.execute(text(
            "SELECT id, at, kind, outcome, actor, client_id, ip, detail::text FROM audit_events "
            "ORDER BY id"))
        return [tuple(row) for row in result]


async def _relkind(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str(await conn.scalar(text(
            "SELECT relkind::text FROM pg_class WHERE oid = 'audit_events'::regclass")))


async def test_conversion_keeps_every_row_and_the_ids_go_on(
        old_schema: tuple[str, AsyncEngine]) -> None:
    url, engine = old_schema
    before = await _rows(engine)
    assert len(before) == len(AGES) and await _relkind(engine) == "r"
    await upgrade(url)
    assert await _relkind(engine) == "p"
    assert await _rows(engine) == before
    async with engine.connect() as conn:
        months = set((await conn.scalars(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_events'::regclass"))).all())
    oldest = month_start(NOW - timedelta(days=max(AGES)))
    assert month_name(oldest) in months and month_name(month_start(NOW)) in months
    assert "audit_events_default" in months
    # the group commit (asyncpg's unnest insert) writes into the partitioned table
    audit = Audit(sessionmaker(engine))
    await audit.record("login", "success", actor="after-conversion")
    await audit.close()
    after = await _rows(engine)
    assert after[:-1] == before and after[-1][4] == "after-conversion"
    assert after[-1][0] > max(row[0] for row in before)


async def test_downgrade_converts_back_keeping_every_row(
        old_schema: tuple[str, AsyncEngine]) -> None:
    url, engine = old_schema
    await upgrade(url)
    converted = await _rows(engine)

    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0010_activation")
        connection.commit()

    async with engine.connect() as conn:
        await conn.run_sync(downgrade)
    assert await _relkind(engine) == "r"
    assert await _rows(engine) == converted


async def test_purge_exports_then_drops_whole_months(
        old_schema: tuple[str, AsyncEngine], tmp_path: Path) -> None:
    url, engine = old_schema
    await upgrade(url)
    before = await _rows(engine)
    retention = RetentionSettings(export_dir=tmp_path / "exports", purge_pause=0)
    cutoff = NOW - timedelta(days=365)

    dry = await run_purge(engine, retention, dry_run=True, now=NOW)
    assert await _rows(engine) == before and not (tmp_path / "exports").exists()

    report = await run_purge(engine, retention, now=NOW)
    whole = [month_name(m) for m in sorted({month_start(row[1]) for row in before})
             if (m.replace(year=m.year + m.month // 12, month=m.month % 12 + 1)) <= cutoff]
    assert whole and report.months == whole and dry.months == whole
    in_whole = [row for row in before if month_name(month_start(row[1])) in whole]
    assert report.removed["audit_months"] == len(in_whole) == dry.removed["audit_months"]
    # what is left: nothing older than its retention, everything newer
    left = await _rows(engine)
    machine = {row[0] for row in before if row[2] == "token"}
    expected = [row for row in before
                if row[1] >= NOW - timedelta(days=30 if row[0] in machine else 365)]
    assert left == expected
    # each dropped month is in the export directory, whole and with its checksum
    for name in whole:
        exported = tmp_path / "exports" / f"{name}.jsonl.gz"
        digest, file_name = (exported.with_name(exported.name + ".sha256")
                             .read_text().split())
        assert file_name == exported.name
        assert hashlib.sha256(exported.read_bytes()).hexdigest() == digest
        lines = [json.loads(line) for line in gzip.decompress(exported.read_bytes()).splitlines()]
        wanted = [row for row in in_whole if month_name(month_start(row[1])) == name]
        assert [line["id"] for line in lines] == [row[0] for row in wanted]
        assert all(set(line) == {"id", "at", "kind", "outcome", "actor", "client_id", "ip",
                                 "detail"} for line in lines)
    assert not list((tmp_path / "exports").glob("*.partial"))
    async with engine.connect() as conn:  # the months ahead are there for the inserts to come
        ahead = month_start(NOW + timedelta(days=70))
        assert await conn.scalar(select(func.to_regclass(month_name(ahead)))) is not None


async def test_a_kind_kept_forever_keeps_every_month(old_schema: tuple[str, AsyncEngine]) -> None:
    url, engine = old_schema
    await upgrade(url)
    before = await _rows(engine)
    report = await run_purge(engine, RetentionSettings(machine_audit_days=0), now=NOW)
    assert report.months == [] and "audit_months" not in report.removed
    left = await _rows(engine)
    # people's events past a year went row by row; every machine row stays
    assert [row for row in before if row[2] == "token"] == [r for r in left if r[2] == "token"]
    assert all(row[1] >= NOW - timedelta(days=365) for row in left if row[2] == "login")


async def test_a_month_that_cannot_be_exported_is_not_dropped_nor_deleted(
        old_schema: tuple[str, AsyncEngine], tmp_path: Path) -> None:
    url, engine = old_schema
    await upgrade(url)
    before = await _rows(engine)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the export directory should be")
    report = await run_purge(engine, RetentionSettings(export_dir=blocked / "audit"), now=NOW)
    assert report.months == [] and not report.finished
    assert "audit" not in report.removed and "machine_audit" not in report.removed
    assert await _rows(engine) == before  # every audit row still there, to export next time
    assert "refresh_tokens" in report.removed  # the other kinds are purged all the same
    # once the directory can be written, the next purge exports and drops as usual
    blocked.unlink()
    later = await run_purge(engine, RetentionSettings(export_dir=tmp_path / "ok"), now=NOW)
    assert later.months and later.finished
    assert all((tmp_path / "ok" / f"{name}.jsonl.gz.sha256").exists() for name in later.months)


async def test_a_drop_that_would_wait_gives_way(old_schema: tuple[str, AsyncEngine]) -> None:
    """A long read holds the table: the drop gives up after its short lock timeout instead of
    queueing (inserts would queue behind it); the next purge drops the month."""
    url, engine = old_schema
    await upgrade(url)
    before = await _rows(engine)
    async with engine.connect() as reader:
        await reader.execute(text("SELECT count(*) FROM audit_events"))  # ACCESS SHARE, held
        report = await asyncio.wait_for(run_purge(engine, RetentionSettings(), now=NOW), 15)
        # the reader still holds the table, and an insert goes through: no drop left waiting
        audit = Audit(sessionmaker(engine))
        await asyncio.wait_for(audit.record("login", "success", actor="during-drop"), 5)
        await audit.close()
        await reader.rollback()
    assert report.months == [] and not report.finished
    assert (await _rows(engine))[:-1] == before
    later = await run_purge(engine, RetentionSettings(), now=NOW)
    assert later.months and later.finished


async def test_a_drop_kept_from_its_lock_for_a_moment_tries_again_in_the_same_purge(
        old_schema: tuple[str, AsyncEngine]) -> None:
    """The drop asks for its lock briefly, a few times over (DROP_ATTEMPTS): a write that holds
    the table for a moment makes it try again, not give up the month until the next purge, and
    an insert meanwhile waits at most one short timeout behind it."""
    url, engine = old_schema
    await upgrade(url)
    waits = []
    async with engine.connect() as reader:
        await reader.execute(text("SELECT count(*) FROM audit_events"))  # ACCESS SHARE, held
        purge = asyncio.create_task(run_purge(engine, RetentionSettings(), now=NOW))
        audit = Audit(sessionmaker(engine))
        loop = asyncio.get_running_loop()
        for _ in range(3):  # while the drop keeps trying, inserts go through
            started = loop.time()
            await asyncio.wait_for(audit.record("login", "success", actor="during-drop"), 5)
            waits.append(loop.time() - started)
            await asyncio.sleep(0.1)
        await audit.close()
        assert not purge.done()  # still trying
        await reader.rollback()  # the write ends: the next attempt has the lock
    report = await asyncio.wait_for(purge, 15)
    assert report.months and report.finished
    # behind a waiting drop, an insert waits for one 50 ms timeout at most (1 s before)
    assert max(waits) < 0.5, waits
