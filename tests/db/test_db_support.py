"""The throwaway-database helpers: each database is new, empty, and gone afterwards."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.support.databases import (
    drop_postgres_database,
    postgres_database,
    postgres_database_sync,
    sqlite_database,
)


async def _exists(name: str) -> bool:
    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_postgres_database_is_fresh_and_dropped() -> None:
    async with postgres_database() as url, postgres_database() as other:
        assert url != other
        name = url.rsplit("/", 1)[-1]
        assert url.startswith("postgresql://postgres@127.0.0.1:5432/test_")
        assert await _exists(name)
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname='public'") == 0
        finally:
            await conn.close()
    assert not await _exists(name)


async def test_sync_variant_works_inside_a_running_loop() -> None:
    with postgres_database_sync() as url:
        name = url.rsplit("/", 1)[-1]
        assert await _exists(name)
    assert not await _exists(name)


async def test_drop_refuses_databases_it_did_not_make() -> None:
    with pytest.raises(ValueError, match="refusing"):
        await drop_postgres_database("postgresql://postgres@127.0.0.1:5432/test")
    assert await _exists("test")


def test_sqlite_database_in_a_temporary_directory(tmp_path: Path) -> None:
    with sqlite_database() as url:
        path = Path(url.removeprefix("sqlite:///"))
        assert path.is_absolute() and path.parent.is_dir()
    assert not path.parent.exists()
    with sqlite_database(tmp_path) as url:
        assert url == f"sqlite:///{tmp_path.resolve()}/idp.db"
