"""Migration 0003_mfa creates exactly the tables idp.db.mfa_models describes, on SQLite and
PostgreSQL (autogenerate finds nothing to do for them), and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

import idp.db.mfa_models  # noqa: F401  (registers the tables on Base.metadata)
from idp.db.engine import open_engine
from idp.db.migrate import alembic_config, upgrade
from idp.db.models import Base
from tests.support.databases import create_postgres_database, drop_postgres_database

MFA_TABLES = {"mfa_totp", "mfa_passkeys", "mfa_recovery_codes"}


def _mfa_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences = compare_metadata(context, Base.metadata)

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:] if isinstance(item, tuple) else ():
            name = getattr(part, "name", None) if not isinstance(part, str) else part
            table = getattr(getattr(part, "table", None), "name", None)
            for candidate in (table, name):
                if candidate in MFA_TABLES:
                    return candidate
        return None

    return [diff for diff in differences if table_of(diff) is not None]


async def _check(url: str) -> None:
    await upgrade(url)
    engine = open_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            assert tables >= MFA_TABLES
            assert await conn.run_sync(_mfa_differences) == []

            def down(connection: Connection) -> None:
                config = alembic_config()
                config.attributes["connection"] = connection
                # to the revision before 0003_mfa, whatever later revisions sit on top of it
                command.downgrade(config, "0002_registration")

            await conn.run_sync(down)
            await conn.commit()
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            assert not tables & MFA_TABLES
            # and the comparison above can see a difference: now it names the missing tables
            missing = await conn.run_sync(_mfa_differences)
            assert {diff[1].name for diff in missing if diff[0] == "add_table"} == MFA_TABLES
    finally:
        await engine.dispose()


async def test_the_mfa_migration_matches_the_models_on_sqlite(tmp_path: Path) -> None:
    await _check(f"sqlite:///{tmp_path}/mfa.db")


async def test_the_mfa_migration_matches_the_models_on_postgresql() -> None:
    url = await create_postgres_database()
    try:
        await _check(url)
    finally:
        await drop_postgres_database(url)


def test_mfa_tables_are_models() -> None:
    assert MFA_TABLES <= set(Base.metadata.tables)
