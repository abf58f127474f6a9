"""The refresh-token statements find their row by its primary key, whatever PostgreSQL knows of
the table. pg_direct's statements are prepared once per connection and PostgreSQL may keep a
generic plan for them, made from the statistics of the moment: on a new or not yet analysed
table every estimate is one row, and a statement whose conditions another index could serve
(`client_id = $3`, `revoked_at IS NULL`) may get that index instead of the primary key. With the
client_id index a claim read every token of the client, and a run of refresh_token grants slowed
from thousands a second to a few hundred as the table grew. Each statement is planned here as
PostgreSQL plans it for a prepared statement (plan_cache_mode = force_generic_plan), on a new
database and again after one client's thousands of tokens have been analysed."""

from __future__ import annotations

import re

import asyncpg
import pytest

from idp.db.migrate import upgrade
from idp.db.pg_direct import (
    CLAIM_REFRESHES,
    HOT_PATH_SETTINGS,
    RELEASE_CLAIM,
    ROTATE_REFRESH,
    SELECT_REFRESH,
)
from tests.support.databases import postgres_database

STATEMENTS = {"plan_claim": CLAIM_REFRESHES, "plan_rotate": ROTATE_REFRESH,
              "plan_release": RELEASE_CLAIM, "plan_select": SELECT_REFRESH}

SEED = (
    "INSERT INTO refresh_tokens (digest, family_id, client_id, subject, scope, amr, expires_at,"
    " created_at, rotated_at) SELECT md5(n::text) || md5(n::text), md5(n::text), 'portal',"
    " 's-' || n % 500, 'openid', '[]', now() + interval '1 day', now(),"
    " CASE WHEN n % 2 = 0 THEN now() END FROM generate_series(1, 5000) AS n"
)


async def _refresh_token_scans(connection: asyncpg.Connection, name: str, sql: str) -> list[str]:
    """How the generic plan of `sql` reads refresh_tokens: one entry per scan of the table."""
    types = [t.name for t in (await connection.prepare(sql)).get_parameters()]
    await connection.execute(f"PREPARE {name} AS {sql}")
    try:
        plan = await connection.fetch(
            f"EXPLAIN EXECUTE {name}({', '.join('NULL' for _ in types)})")
    finally:
        await connection.execute(f"DEALLOCATE {name}")
    # a bitmap scan's index line names the index only, hence the optional table
    return [match.group(0) for row in plan
            if (match := re.search(r"(Seq Scan|Index Scan using \w+|Index Only Scan using \w+)"
                                   r" on refresh_tokens|Bitmap Index Scan on \w+", row[0]))]


@pytest.mark.parametrize("analysed", [False, True], ids=["new table", "analysed"])
async def test_refresh_statements_read_the_row_by_its_primary_key(analysed: bool) -> None:
    async with postgres_database() as url:
        await upgrade(url)
        connection = await asyncpg.connect(url)
        try:
            if analysed:
                await connection.execute(SEED)
                await connection.execute("ANALYZE refresh_tokens")
            for name, value in HOT_PATH_SETTINGS.items():  # as pg_direct's connections have them
                await connection.execute(f"SET {name} = {value}")
            for name, sql in STATEMENTS.items():
                scans = await _refresh_token_scans(connection, name, sql)
                assert scans, (name, "no scan of refresh_tokens found in the plan")
                assert all(scan == "Index Scan using pk_refresh_tokens on refresh_tokens"
                           for scan in scans), (name, scans)
        finally:
            await connection.close()
