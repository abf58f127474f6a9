"""Alembic migrations (idp.db.migrate) on SQLite and the real PostgreSQL.

The migrations, not create_all, build every database the IdP runs on, so they must create exactly
what the models describe and be safe to run at every start, from several replicas at once.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, text

from directory.local_schema import DirPerson
from idp.db.engine import open_engine
from idp.db.migrate import (
    MIGRATIONS_DIR,
    DatabaseUnreachable,
    UnknownSchemaRevision,
    alembic_config,
    current,
    head_revision,
    upgrade,
)
from idp.db.partitions import is_partition
from idp.db.schema import METADATA, table_names
from tests.support.databases import postgres_database

MODEL_TABLES = table_names()


def _schema_differences(connection: Connection) -> list[object]:
    # the audit log's monthly partitions (PostgreSQL) are part of audit_events, not tables
    context = MigrationContext.configure(connection, opts={
        "compare_type": True,
        "include_name": lambda name, kind, _parent: kind != "table" or not is_partition(name)})
    return list(compare_metadata(context, METADATA))


async def _inspect(url: str, probe):  # type: ignore[no-untyped-def]
    engine = open_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(probe)
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    names = await _inspect(url, lambda c: inspect(c).get_table_names())
    return {name for name in names if not is_partition(name)}


def test_the_model_tables_are_the_expected_ones() -> None:
    expected = {"clients", "consents", "refresh_tokens", "audit_events", "logout_deliveries"}
    assert expected <= MODEL_TABLES
    assert {"dir_people", "dir_groups", "dir_memberships", "dir_last_known"} <= MODEL_TABLES


def test_head_revision_is_found_from_the_package_dir() -> None:
    assert MIGRATIONS_DIR.is_dir() and MIGRATIONS_DIR.is_absolute()
    # the head is the one revision no other revision names as its parent
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text()
        revisions.update(re.findall(r'^revision(?:: str)? = "([^"]+)"', text, re.M))
        parents.update(re.findall(r'^down_revision[^=]*= "([^"]+)"', text, re.M))
    assert head_revision() in revisions
    assert revisions - parents == {head_revision()}


async def test_current_of_an_empty_database_is_none(empty_database: str) -> None:
    assert await current(empty_database) is None


async def test_upgrade_creates_every_table(empty_database: str) -> None:
    assert await _tables(empty_database) == set()
    await upgrade(empty_database)
    assert await _tables(empty_database) == MODEL_TABLES | {"alembic_version"}
    assert await current(empty_database) == head_revision()


async def test_migrated_schema_matches_the_models(empty_database: str) -> None:
    """Autogenerate finds nothing to do: columns, types, nullability and indexes all agree."""
    await upgrade(empty_database)
    assert await _inspect(empty_database, _schema_differences) == []


async def test_upgrade_twice_is_a_no_op_and_keeps_data(empty_database: str) -> None:
    await upgrade(empty_database)
    engine = open_engine(empty_database, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO dir_groups (name, description) VALUES ('staff', 'kept')")
            )
    finally:
        await engine.dispose()

    await upgrade(empty_database)

    assert await current(empty_database) == head_revision()
    assert await _tables(empty_database) == MODEL_TABLES | {"alembic_version"}
    rows = await _inspect(
        empty_database,
        lambda c: c.execute(text("SELECT name, description FROM dir_groups")).all(),
    )
    assert [tuple(r) for r in rows] == [("staff", "kept")]


async def test_local_login_keys_become_nfkc_and_twins_keep_theirs(empty_database: str) -> None:
    """0004: a local person whose name has compatibility characters keeps signing in once
    typed names are NFKC-normalised; a name whose new key is another person's keeps its old
    key (and the migration says so) instead of failing the upgrade."""
    await upgrade(empty_database, "0003_mfa")
    engine = open_engine(empty_database, pool_size=1)
    people = [("\uff4ci", "\uff4ci"), ("\uff5ahuxin", "\uff5ahuxin"), ("zhuxin", "zhuxin"),
              ("Plain", "plain")]
    try:
        async with engine.begin() as conn:
            for n, (username, key) in enumerate(people):
                await conn.execute(insert(DirPerson.__table__).values(
                    subject=f"subject-{n}", username=username, username_key=key, affiliations=[],
                    entitlements=[], disabled=False, password_expired=False, must_change=False,
                    created_at=datetime.now(UTC), updated_at=datetime.now(UTC)))
    finally:
        await engine.dispose()
    await upgrade(empty_database)
    rows = await _inspect(empty_database, lambda c: c.execute(
        text("SELECT username, username_key FROM dir_people ORDER BY subject")).all())
    assert [tuple(r) for r in rows] == [("\uff4ci", "li"), ("\uff5ahuxin", "\uff5ahuxin"),
                                        ("zhuxin", "zhuxin"), ("Plain", "plain")]


async def test_downgrade_to_base_removes_every_table(empty_database: str) -> None:
    await upgrade(empty_database)

    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        connection.commit()

    await _inspect(empty_database, downgrade)
    assert await _tables(empty_database) == {"alembic_version"}
    assert await current(empty_database) is None
    await upgrade(empty_database)  # and back up again
    assert await _tables(empty_database) == MODEL_TABLES | {"alembic_version"}


async def test_schema_from_a_newer_release_is_a_clear_error(empty_database: str) -> None:
    await upgrade(empty_database)
    engine = open_engine(empty_database, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    finally:
        await engine.dispose()
    with pytest.raises(UnknownSchemaRevision, match="'f00dfeed'.*newer release"):
        await upgrade(empty_database)
    assert await current(empty_database) == "f00dfeed"  # and nothing was touched


async def test_upgrade_from_another_working_directory(
    empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No alembic.ini, no relative paths: start-up works wherever the process was launched."""
    monkeypatch.chdir(tmp_path)
    await upgrade(empty_database)
    assert await current(empty_database) == head_revision()


async def test_unreachable_postgres_is_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable, match=r"127\.0\.0\.1:1/idp"):
        await upgrade("postgresql://postgres@127.0.0.1:1/idp")
    assert time.monotonic() - started < 5


async def test_missing_postgres_database_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnreachable, match="test_does_not_exist"):
        await current("postgresql://postgres@127.0.0.1:5432/test_does_not_exist")


async def test_password_is_not_shown_in_the_error() -> None:
    with pytest.raises(DatabaseUnreachable) as caught:
        await upgrade("postgresql://idp:hunter2@127.0.0.1:1/idp")
    assert "hunter2" not in str(caught.value)


async def test_unwritable_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnreachable, match="a-file"):
        await upgrade(f"sqlite:///{blocker}/idp.db")
    with pytest.raises(DatabaseUnreachable, match="a-file"):
        await current(f"sqlite:///{blocker}/idp.db")


async def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        await upgrade("mysql://root@127.0.0.1/idp")


_RACER = """
import asyncio, sys
from idp.db.migrate import upgrade
print("ready", flush=True)
sys.stdin.readline()  # wait for the starting gun, so every racer connects at the same moment
asyncio.run(upgrade(sys.argv[1]))
"""


async def test_concurrent_upgrades_on_postgres_are_safe() -> None:
    """Replicas starting together: each runs upgrade() in its own process at the same instant.
    Without the advisory lock the losers fail on duplicate CREATE TABLE."""
    async with postgres_database() as url:
        racers = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _RACER, url,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(4)
        ]
        for racer in racers:
            assert racer.stdout is not None
            assert await asyncio.wait_for(racer.stdout.readline(), 30) == b"ready\n"
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write(b"go\n")
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(racer.communicate() for racer in racers)), 60
        )
        failures = [
            err.decode()
            for racer, (_, err) in zip(racers, outcomes, strict=True)
            if racer.returncode != 0
        ]
        assert failures == []
        assert await current(url) == head_revision()
        assert await _tables(url) == MODEL_TABLES | {"alembic_version"}
