"""The attribute-release record's writer (idp/db/releases.py) on SQLite and PostgreSQL: releases
fold into one row per person, app, claim set and day; later writes add to that row (upsert);
retention deletes old days; reading it back (idp/sso/releases.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db import releases as releases_module
from idp.db.engine import sessionmaker
from idp.db.models import Client
from idp.db.release_models import AttributeRelease
from idp.db.releases import ReleaseLog, claim_set, purge
from idp.sso import releases as reading


def _subject() -> str:
    return f"rel-{uuid4().hex[:12]}"


async def _rows(engine: AsyncEngine, subject: str) -> list[AttributeRelease]:
    async with sessionmaker(engine)() as db:
        return list(await db.scalars(select(AttributeRelease)
                                     .where(AttributeRelease.subject == subject)
                                     .order_by(AttributeRelease.day, AttributeRelease.claims)))


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def test_releases_fold_into_one_row_per_person_app_claim_set_and_day(
        engine: AsyncEngine) -> None:
    log = ReleaseLog(engine)
    subject, day = _subject(), date(2026, 9, 1)
    for hour in (9, 11, 8):  # out of order: first and last are the earliest and the latest
        log.record(subject, "hall", ["sub", "email", "name"], at=_at(day, hour))
    log.record(subject, "hall", ["name", "email", "sub", "email"], at=_at(day, 10))  # same set
    log.record(subject, "hall", ["sub"], at=_at(day, 12))  # another set
    log.record(subject, "library", ["sub", "email", "name"], at=_at(day, 12))  # another app
    log.record(subject, "hall", ["sub", "email", "name"], at=_at(day + timedelta(days=1), 0, 5))
    assert log.pending == 4  # folded in memory already: nothing per release on the way
    await log.flush()
    assert log.pending == 0

    rows = await _rows(engine, subject)
    assert [(r.client_id, r.day, r.claims, r.count) for r in rows] == [
        ("hall", day, "email name sub", 4),
        ("library", day, "email name sub", 1),
        ("hall", day, "sub", 1),
        ("hall", day + timedelta(days=1), "email name sub", 1),
    ]
    first = rows[0]
    assert (first.first_at, first.last_at) == (_at(day, 8), _at(day, 11))

    # a later write folds into the same row: the count adds up, first/last widen
    log.record(subject, "hall", ["email", "name", "sub"], at=_at(day, 7))
    log.record(subject, "hall", ["email", "name", "sub"], at=_at(day, 23))
    await log.flush()
    rows = await _rows(engine, subject)
    assert len(rows) == 4
    assert (rows[0].count, rows[0].first_at, rows[0].last_at) == (6, _at(day, 7), _at(day, 23))
    await log.close()


async def test_nothing_personal_is_not_recorded(engine: AsyncEngine) -> None:
    log = ReleaseLog(engine)
    subject = _subject()
    log.record(None, "hall", ["sub"])  # no person (a machine's token)
    log.record(subject, None, ["sub"])
    log.record(subject, "hall", [])  # no claims
    assert log.pending == 0
    await log.flush()
    assert await _rows(engine, subject) == []


async def test_the_writer_writes_by_itself_after_the_fold_in_pause(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setattr(releases_module, "FLUSH_EVERY", 0.05)
    log = ReleaseLog(engine)
    subject = _subject()
    log.record(subject, "hall", ["sub"])
    assert await _rows(engine, subject) == []  # behind the response: not yet
    for _ in range(100):
        await asyncio.sleep(0.05)
        if await _rows(engine, subject):
            break
    assert [r.count for r in await _rows(engine, subject)] == [1]
    await log.close()


async def test_retention_deletes_the_days_past_it(engine: AsyncEngine) -> None:
    log = ReleaseLog(engine)
    subject, today = _subject(), datetime.now(UTC).date()
    for age in (0, 29, 30, 31, 400):
        log.record(subject, "hall", ["sub"], at=_at(today - timedelta(days=age), 12))
    await log.flush()
    assert await purge(engine, 0) == 0  # 0 keeps everything
    removed = await purge(engine, 30)
    assert removed >= 2  # other tests' rows of the same age may go too
    assert sorted((today - r.day).days for r in await _rows(engine, subject)) == [0, 29, 30]
    await log.close()


async def test_the_writer_purges_by_itself(engine: AsyncEngine) -> None:
    log = ReleaseLog(engine, retention_days=10)
    subject, today = _subject(), datetime.now(UTC).date()
    log.record(subject, "hall", ["sub"], at=_at(today - timedelta(days=11), 1))
    await log.flush()  # its first write purges (before this row? no: after it)
    log.record(subject, "hall", ["sub"], at=_at(today, 1))
    await log.flush()
    assert [(today - r.day).days for r in await _rows(engine, subject)] == [0]
    await log.close()


async def test_reading_back_per_person_and_app(engine: AsyncEngine) -> None:
    db = sessionmaker(engine)
    client_id = f"app-{uuid4().hex[:8]}"
    async with db() as session, session.begin():
        session.add(Client(client_id=client_id, name="网上办事大厅", token_endpoint_auth_method="none"))
    log = ReleaseLog(engine)
    subject, other = _subject(), _subject()
    day = date(2026, 10, 1)
    log.record(subject, client_id, ["sub", "email"], at=_at(day, 9))
    log.record(subject, client_id, ["sub", "phone_number"], at=_at(day + timedelta(days=2), 9))
    log.record(subject, "cas-oa", ["user", "mail"], at=_at(day, 10))
    log.record(other, client_id, ["sub"], at=_at(day, 11))
    await log.flush()

    apps = await reading.apps_of(db, subject)
    assert [a.client_id for a in apps] == [client_id, "cas-oa"]  # the latest first
    assert apps[0].app_name == "网上办事大厅" and apps[1].app_name == "cas-oa"
    assert sorted(apps[0].claims) == ["email", "phone_number", "sub"]
    assert apps[0].last_at == _at(day + timedelta(days=2), 9) and apps[0].count == 2

    found = await reading.search(db, reading.ReleaseFilter(subject=subject, client_id=client_id))
    assert [(r.day, r.claims) for r in found] == [(day + timedelta(days=2), ["phone_number", "sub"]),
                                                   (day, ["email", "sub"])]
    found = await reading.search(db, reading.ReleaseFilter(
        client_id=client_id, since=day, until=day))
    assert {r.subject for r in found} == {subject, other}
    batch = await reading.export_batch(db, reading.ReleaseFilter(subject=subject), None)
    assert len(batch) == 3 and batch[0].id > batch[-1].id
    assert await reading.export_batch(db, reading.ReleaseFilter(subject=subject),
                                      batch[-1].id) == []
    await log.close()


def test_a_claim_set_is_one_string_however_it_came() -> None:
    assert claim_set(["sub", "email", "sub", "name"]) == claim_set(["name", "email", "sub"])
    assert claim_set(["x" * 600, "y" * 600]) == "x" * 600  # cut at a name, never inside one
