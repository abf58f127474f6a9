"""idp.db.engine.async_url: the URLs operators write become the project's async driver URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from idp.db.engine import async_url, open_engine


@pytest.mark.parametrize(
    ("given", "driver", "database", "host"),
    [
        ("sqlite:///var/x.db", "sqlite+aiosqlite", "var/x.db", None),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite", "/abs/x.db", None),
        ("sqlite:///:memory:", "sqlite+aiosqlite", ":memory:", None),
        ("sqlite+aiosqlite:///var/x.db", "sqlite+aiosqlite", "var/x.db", None),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg", "db", "h"),
        ("postgres://u@h:5432/db", "postgresql+asyncpg", "db", "h"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg", "db", "h"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg", "db", "h"),
    ],
)
def test_async_url_picks_the_async_driver(
    given: str, driver: str, database: str, host: str | None
) -> None:
    url = async_url(given)
    assert url.drivername == driver
    assert url.database == database
    assert url.host == host


def test_postgres_url_keeps_credentials_port_and_query() -> None:
    url = async_url("postgres://idp:s3cr%40t@db.campus.edu:6432/idp?application_name=idp")
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port) == ("idp", "s3cr@t", "db.campus.edu", 6432)
    assert url.query == {"application_name": "idp"}


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = async_url("postgresql://u@h/db?sslmode=verify-full")
    assert url.query == {"ssl": "verify-full"}


def test_relative_and_absolute_sqlite_paths_stay_as_written() -> None:
    assert async_url("sqlite:///var/idp.db").render_as_string() == "sqlite+aiosqlite:///var/idp.db"
    assert async_url("sqlite:////srv/idp.db").render_as_string() == "sqlite+aiosqlite:////srv/idp.db"


@pytest.mark.parametrize(
    "bad", ["mysql://u@h/db", "oracle://h/db", "not a url", "", "://nothing"]
)
def test_unsupported_or_malformed_urls_are_a_clear_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://"):
        async_url(bad)


async def test_open_engine_creates_the_sqlite_directory(tmp_path: Path) -> None:
    target = tmp_path / "not" / "yet" / "there.db"
    engine = open_engine(f"sqlite:///{target}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()
    assert target.is_file()


async def test_open_engine_in_memory_sqlite_works() -> None:
    engine = open_engine("sqlite:///:memory:")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1 + 1"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_open_engine_postgres_from_a_plain_url() -> None:
    engine = open_engine("postgresql://postgres@127.0.0.1:5432/test")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT current_database()"))).scalar() == "test"
    finally:
        await engine.dispose()
