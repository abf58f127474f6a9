"""`idp maintenance purge`, as a real subprocess, on SQLite and on PostgreSQL: what it removes
per kind (as text and as JSON), --dry-run, --older-than, and a clear error without a schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import func, insert, select, text

from idp.db.engine import close_engine, open_engine
from idp.db.models import AuditEvent
from idp.db.purge import ADVISORY_KEY
from tests.cli.conftest import Runner
from tests.support.databases import postgres_database_sync

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, idp_env: dict[str, str]) -> Iterator[str]:
    if request.param == "sqlite":
        yield idp_env["IDP_DATABASE_URL"]
        return
    with postgres_database_sync() as url:
        idp_env["IDP_DATABASE_URL"] = url
        yield url


def _seed(url: str) -> None:
    asyncio.run(_seed_async(url))


async def _seed_async(url: str) -> None:
    now = datetime.now(UTC)
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(AuditEvent), [
                {"at": now - timedelta(days=days), "kind": kind, "outcome": "success",
                 "actor": "a", "client_id": "c", "ip": None, "detail": detail}
                for days, kind, detail in [
                    (400, "login", {}), (40, "login", {}), (10, "login", {}),
                    (40, "token", {"grant": "client_credentials", "count": 3}),
                    (10, "token", {"grant": "client_credentials", "count": 3}),
                ]])
    finally:
        await close_engine(engine)


def _audit_rows(url: str) -> int:
    async def count() -> int:
        engine = open_engine(url)
        try:
            async with engine.connect() as conn:
                return int(await conn.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        finally:
            await close_engine(engine)

    return asyncio.run(count())


def test_purge_reports_per_kind(run_idp: Runner, database: str) -> None:
    run_idp("migrate", check=True)
    _seed(database)
    dry = run_idp("maintenance", "purge", "--dry-run", "--json", check=True)
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True
    assert report["removed"]["audit"] == 1 and report["removed"]["machine_audit"] == 1
    assert _audit_rows(database) == 5
    done = run_idp("maintenance", "purge", check=True)
    assert "audit " in done.stdout and "removed" in done.stdout
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert lines["audit"].split()[2] == "1" and lines["machine_audit"].split()[2] == "1"
    assert _audit_rows(database) == 3
    # five days instead of 365 and 30: the events of 40 and 10 days ago go too
    older = json.loads(run_idp("maintenance", "purge", "--older-than", "5", "--json",
                               check=True).stdout)
    assert older["removed"]["audit"] == 2 and older["removed"]["machine_audit"] == 1
    assert _audit_rows(database) == 0


def test_zero_days_is_reported_as_kept_forever(run_idp: Runner, database: str) -> None:
    run_idp("migrate", check=True)
    _seed(database)
    done = run_idp("maintenance", "purge", env={"IDP_RETENTION_AUDIT_DAYS": "0"}, check=True)
    assert "kept forever" in done.stdout.split("\n")[0]
    assert _audit_rows(database) == 4


def test_purge_by_hand_skips_while_a_replica_purges(run_idp: Runner) -> None:
    with postgres_database_sync() as url:
        env = {"IDP_DATABASE_URL": url}
        run_idp("migrate", env=env, check=True)
        result = asyncio.run(_while_locked(url, lambda: run_idp("maintenance", "purge", env=env)))
        assert result.returncode == 3
        assert "another replica is purging" in result.stdout


async def _while_locked(url: str, work: Callable[[], T]) -> T:
    engine = open_engine(url)
    try:
        async with engine.connect() as holder:  # a replica in the middle of its purge
            assert await holder.scalar(text(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})"))
            return work()
    finally:
        await close_engine(engine)


def test_purge_without_a_schema_says_what_to_do(run_idp: Runner) -> None:
    result = run_idp("maintenance", "purge")
    assert result.returncode == 1
    assert "idp migrate" in result.stderr and "Traceback" not in result.stderr


def test_older_than_must_be_a_number_of_days(run_idp: Runner) -> None:
    result = run_idp("maintenance", "purge", "--older-than", "0")
    assert result.returncode == 2 and "--older-than" in result.stderr

