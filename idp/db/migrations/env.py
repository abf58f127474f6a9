"""Alembic environment for campus-idp.

idp.db.migrate hands over an open connection (`config.attributes["connection"]`), made by the
project's async engine, so plain sqlite:/// and postgresql:// URLs work as operators write them.
Without one (the `alembic` command, or autogenerating a revision) a URL is taken from
`config.attributes["url"]` or the `sqlalchemy.url` option and opened the same way.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from idp.db.engine import async_url, open_engine
from idp.db.partitions import is_partition
from idp.db.schema import METADATA

# the IdP's own tables and the embedded directory's tables live in one database
target_metadata = METADATA


def _configured_url() -> str:
    url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database to migrate: pass a connection or set sqlalchemy.url")
    return str(url)


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # the audit log's monthly partitions (PostgreSQL) belong to audit_events: autogenerate
        # must not offer to drop them
        include_name=lambda name, kind, _parent: kind != "table" or not is_partition(name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = open_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    """`--sql` mode: print the DDL for a DBA instead of running it."""
    url = async_url(_configured_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
    else:
        asyncio.run(_run_with_url(_configured_url()))


if context.is_offline_mode():
    run_offline()
else:
    run_online()
