"""Throwaway databases for tests: a fresh PostgreSQL database, or a SQLite file in a tmp dir.

PostgreSQL is the real server at 127.0.0.1:5432 (user postgres, trust auth). A new database
`test_<random>` is created from the maintenance database `test` and dropped afterwards, so
sessions never see each other's rows and a crashed run leaves at most one stray database.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import asyncpg

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_MAINTENANCE_DB = "test"

T = TypeVar("T")


def postgres_url(database: str) -> str:
    """The plain URL the application is given (no driver), as an operator would write it."""
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _maintenance_connection() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_MAINTENANCE_DB, timeout=5
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise RuntimeError(
            f"the tests need PostgreSQL at {PG_HOST}:{PG_PORT} (user {PG_USER}, database "
            f"{PG_MAINTENANCE_DB}): {exc}"
        ) from exc


async def create_postgres_database() -> str:
    """Create `test_<random>` and return its postgresql:// URL."""
    name = f"test_{uuid4().hex[:12]}"
    conn = await _maintenance_connection()
    try:
        # identifiers cannot be bound as parameters; the name is ours and [a-z0-9_] only
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return postgres_url(name)


async def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database, even while connections linger."""
    name = url.rsplit("/", 1)[-1]
    if not name.startswith("test_") or not name.replace("_", "").isalnum():
        raise ValueError(f"refusing to drop {name!r}: not a database these helpers created")
    conn = await _maintenance_connection()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """`async with postgres_database() as url:` a fresh, empty PostgreSQL database."""
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


def _run_in_own_loop(coro: Coroutine[Any, Any, T]) -> T:
    # a private loop in a thread, so the sync helper also works inside a running event loop
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextmanager
def postgres_database_sync() -> Iterator[str]:
    """The same for synchronous fixtures and subprocess-based tests."""
    url = _run_in_own_loop(create_postgres_database())
    try:
        yield url
    finally:
        _run_in_own_loop(drop_postgres_database(url))


def sqlite_url(directory: Path, name: str = "idp.db") -> str:
    """A plain sqlite:/// URL (absolute path) for a file in `directory`."""
    return f"sqlite:///{(Path(directory) / name).resolve()}"


@contextmanager
def sqlite_database(directory: Path | None = None) -> Iterator[str]:
    """A SQLite URL in `directory`, or in a temporary directory removed afterwards."""
    if directory is not None:
        yield sqlite_url(directory)
        return
    with tempfile.TemporaryDirectory(prefix="idp-sqlite-") as tmp:
        yield sqlite_url(Path(tmp))
