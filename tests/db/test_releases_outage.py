"""The attribute-release record while PostgreSQL is out of reach (idp/db/releases.py, "the
database away"): releases are held, folded, and written by themselves once it is back; past the
backlog new ones are dropped and counted, never raised into the token path; close() logs what it
still cannot write. The real server behind a CutProxy, as the audit log's outage tests."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db import releases as releases_module
from idp.db.engine import close_engine, open_engine
from idp.db.migrate import upgrade
from idp.db.release_models import AttributeRelease
from idp.db.releases import ReleaseLog
from idp.monitoring.metrics import RELEASES_DROPPED, MeteredReleaseLog
from tests.support.cut import CutProxy
from tests.support.databases import PG_HOST, PG_PORT, PG_USER, postgres_database

WRITTEN_WITHIN = releases_module.RETRY_MAX + 5.0


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


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(releases_module, "FLUSH_EVERY", 0.05)


async def _counts(engine: AsyncEngine, subject: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(AttributeRelease.client_id, func.sum(AttributeRelease.count))
            .where(AttributeRelease.subject == subject).group_by(AttributeRelease.client_id))
        return {client_id: int(count) for client_id, count in rows}


async def _written(engine: AsyncEngine, subject: str, expected: dict[str, int]) -> None:
    started = time.monotonic()
    while (found := await _counts(engine, subject)) != expected:
        assert time.monotonic() - started < WRITTEN_WITHIN, f"{found}, expected {expected}"
        await asyncio.sleep(0.1)


def _subject() -> str:
    return f"held-{uuid4().hex[:12]}"


async def test_releases_held_while_the_database_is_away_are_written_once_it_is_back(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy) -> None:
    log = ReleaseLog(through_proxy)
    subject = _subject()
    log.record(subject, "hall", ["sub"])
    await log.flush()  # the connection is open and used
    proxy.cut()
    started = time.monotonic()
    for _ in range(20):
        log.record(subject, "hall", ["sub"])  # returns at once: nothing waits for the database
    log.record(subject, "oa", ["user", "mail"])
    assert time.monotonic() - started < 0.1
    await asyncio.sleep(1.5)  # writes meanwhile find the database away: held, folded
    assert 1 <= log.pending <= 2
    assert await _counts(reader, subject) == {"hall": 1}

    proxy.restore()
    await _written(reader, subject, {"hall": 21, "oa": 1})
    assert log.pending == 0
    await log.close()


async def test_past_the_backlog_new_releases_are_dropped_and_counted_never_raised(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy) -> None:
    log = MeteredReleaseLog(through_proxy, backlog=2)
    subject = _subject()
    proxy.cut()
    before = RELEASES_DROPPED._value.get()
    log.record(subject, "a", ["sub"])
    log.record(subject, "b", ["sub"])
    log.record(subject, "c", ["sub"])  # a third key: no room
    log.record(subject, "a", ["sub"])  # a held key: folds in, never dropped
    assert RELEASES_DROPPED._value.get() - before == 1 and log.dropped == 1
    proxy.restore()
    await _written(reader, subject, {"a": 2, "b": 1})
    log.record(subject, "c", ["sub"])  # room again
    await log.flush()
    assert await _counts(reader, subject) == {"a": 2, "b": 1, "c": 1}
    await log.close()


async def test_close_logs_what_it_still_cannot_write(
        through_proxy: AsyncEngine, reader: AsyncEngine, proxy: CutProxy,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(releases_module, "CLOSE_WAIT", 1.0)
    log = ReleaseLog(through_proxy)
    subject = _subject()
    proxy.cut()
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    log.record(subject, "hall", ["sub", "email"], at=at)
    log.record(subject, "hall", ["email", "sub"], at=at)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="idp.releases"):
        await asyncio.wait_for(log.close(), 10)
    assert time.monotonic() - started < 5.0
    lines = [r.getMessage().split(": ", 1)[1] for r in caplog.records
             if r.getMessage().startswith("attribute release not written: ")]
    assert [json.loads(line) for line in lines] == [{
        "subject": subject, "client_id": "hall", "day": "2026-12-01", "claims": "email sub",
        "first_at": "2026-12-01 08:00:00+00:00", "last_at": "2026-12-01 08:00:00+00:00",
        "count": 2}]
    proxy.restore()
    await asyncio.sleep(releases_module.RETRY_FIRST * 4)
    assert await _counts(reader, subject) == {}  # logged instead: never written twice
