"""Schema migrations (Alembic), run through the project's async engine.

`idp migrate` and application start-up call `upgrade(url)`. Alembic is configured here in code,
not from an alembic.ini, so it works from an installed package and from any working directory.

Two replicas may start at the same moment: on PostgreSQL the upgrade runs inside a transaction
that first takes an advisory lock, so the second waits, then finds the schema at head and does
nothing. (SQLite serves one process only; DESIGN.md refuses several replicas on it.)
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from idp.db.engine import async_url, open_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# any fixed 64-bit number; it names "the campus-idp schema upgrade" among advisory locks
UPGRADE_LOCK_KEY = 0x1D9_5C4E_3A00_0001


class DatabaseUnreachable(Exception):
    """The database cannot be reached or opened; the message says which one and why."""


class UnknownSchemaRevision(Exception):
    """The database was migrated by a newer campus-idp than this one (e.g. after a rollback)."""


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    # ConfigParser interpolates %; a path is literal
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.attributes["url"] = url
    return config


def head_revision() -> str:
    """The newest revision this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _unreachable(url: str, exc: Exception) -> DatabaseUnreachable:
    shown = async_url(url).render_as_string(hide_password=True)
    return DatabaseUnreachable(f"cannot open database {shown}: {exc}")


def _open(url: str) -> AsyncEngine:
    try:
        return open_engine(url, pool_size=1)
    except OSError as exc:  # the SQLite file's directory cannot be created
        raise _unreachable(url, exc) from exc


async def _connect(engine: AsyncEngine, url: str) -> AsyncConnection:
    try:
        return await engine.connect()
    except (OSError, TimeoutError, DBAPIError) as exc:
        raise _unreachable(url, exc) from exc


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    found = _current_on(connection)
    if found is not None:
        try:
            ScriptDirectory.from_config(config).get_revision(found)
        except CommandError as exc:
            raise UnknownSchemaRevision(
                f"the database schema is at revision {found!r}, which this campus-idp does not "
                f"know (newest known: {head_revision()!r}); was it migrated by a newer release?"
            ) from exc
    command.upgrade(config, revision)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision` (default: the newest); safe to call every start."""
    engine = _open(url)
    try:
        connection = await _connect(engine, url)
        try:
            if connection.dialect.name == "postgresql":
                # held until commit: a concurrent upgrade waits here, then sees the new version
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY}
                )
            await connection.run_sync(_upgrade_on, revision)
            await connection.commit()
        finally:
            await connection.close()
    finally:
        await engine.dispose()


async def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it was never migrated."""
    engine = _open(url)
    try:
        connection = await _connect(engine, url)
        try:
            return await connection.run_sync(_current_on)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def make_revision(url: str, message: str, *, autogenerate: bool = True) -> None:
    """Developers: write a new revision, comparing the models with the database at `url`
    (which should be at head). Read and tidy the generated file before committing it."""
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m idp.db.migrate")
    parser.add_argument("action", choices=["upgrade", "current", "revision"])
    parser.add_argument("--url", required=True, help="sqlite:///… or postgresql://…")
    parser.add_argument("-m", "--message", help="revision message")
    args = parser.parse_args(argv)
    if args.action == "upgrade":
        asyncio.run(upgrade(args.url))
    elif args.action == "current":
        print(asyncio.run(current(args.url)) or "(none)")
    else:
        if not args.message:
            parser.error("revision needs -m MESSAGE")
        make_revision(args.url, args.message)


if __name__ == "__main__":
    main()
