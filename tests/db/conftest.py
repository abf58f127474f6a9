"""Databases for tests/db: every test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from idp.db.engine import close_engine, open_engine, sessionmaker
from idp.db.migrate import upgrade
from tests.support.databases import postgres_database, sqlite_url

BACKENDS = ["sqlite", "postgresql"]


async def _fresh(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield sqlite_url(directory)
        return
    async with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A plain URL of a brand-new, empty database (no tables at all)."""
    async for url in _fresh(request.param, tmp_path):
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
async def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One database per backend for the whole session, created by the migrations (not by
    create_all), so the model tests also prove the migrations match the models."""
    async for url in _fresh(request.param, tmp_path_factory.mktemp("db")):
        await upgrade(url)
        yield url


@pytest.fixture(scope="session")
async def engine(migrated_database: str) -> AsyncIterator[AsyncEngine]:
    db_engine = open_engine(migrated_database, pool_size=2)
    yield db_engine
    await close_engine(db_engine)


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with sessionmaker(engine)() as db_session:
        yield db_session
