"""Open the database: plain sqlite:/// and postgresql:// URLs get the project's async drivers."""

from __future__ import annotations

import weakref
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from idp.db.pg_direct import close_pg_direct


def async_url(url: str) -> URL:
    """sqlite:///x -> sqlite+aiosqlite:///x; postgresql://… -> postgresql+asyncpg://…"""
    if url.startswith("postgres://"):  # Heroku-style alias that SQLAlchemy does not know
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r}; use sqlite:///… or postgresql://…") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        query = dict(parsed.query)
        if "sslmode" in query:
            # libpq spells it sslmode; asyncpg takes the same values as `ssl`
            query["ssl"] = query.pop("sslmode")
        return parsed.set(drivername="postgresql+asyncpg", query=query)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def open_engine(url: str, *, pool_size: int = 12) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        database = target.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(target, connect_args={"timeout": 15})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets readers run beside the one writer; busy_timeout waits instead of failing
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_async_engine(
        target,
        # 12 + 4 per process, and 4 more for the hot-path statements (idp/db/pg_direct.py): two
        # replicas of two workers stay under PostgreSQL's default max_connections (100)
        pool_size=pool_size,
        max_overflow=max(pool_size // 3, 1),
        # LIFO keeps a few connections busy and lets the rest idle out; recycling bounds how long
        # an idle one can sit behind a firewall or NAT that silently forgets it
        pool_use_lifo=True,
        pool_recycle=300,
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _discard_closed(dbapi_conn, _record, _proxy):  # type: ignore[no-untyped-def]
        # Instead of pool_pre_ping (a round trip on every checkout): asyncpg marks a connection
        # closed as soon as the server ends it (restart, failover, pg_terminate_backend). Handing
        # such a connection out would fail the request; DisconnectionError makes the pool
        # replace it with a fresh one first.
        if dbapi_conn._connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")

    return engine


_autocommit: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def one_statement_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine to run a single statement on. PostgreSQL: autocommit, which saves the BEGIN
    and COMMIT/ROLLBACK round trips. SQLite's driver begins a transaction only before a write
    and commits it when the block ends, so the engine itself already does this."""
    if engine.dialect.name != "postgresql":
        return engine
    found = _autocommit.get(engine)
    if found is None:
        # cached: building an engine with options costs ~0.2 ms; it shares the pool
        found = _autocommit[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


async def close_engine(engine: AsyncEngine) -> None:
    """Close the engine's connections, those of its hot-path pool (idp/db/pg_direct.py) too."""
    await close_pg_direct(engine)
    await engine.dispose()


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
