"""`python -m bench.audit_grain [--tokens N]`: what machine tokens write to the audit log, one row
per token (IDP_AUDIT_MACHINE_TOKENS=each) against one row per client per minute (summary, the
default): audit rows and bytes on PostgreSQL per 1,000 client_credentials tokens.

Counts, not timings: the figure does not depend on how busy the machine is. Each grain runs
`idp serve` on a fresh PostgreSQL database, issues N tokens with 8 connections, stops the server
gracefully (a summary row is written when its minute ends or at shutdown) and measures
`audit_events` with its partitions (pg_partition_tree).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import httpx

from bench.stack import IDP_COMMAND, free_port, stop, wait_until_up
from tests.support.databases import create_postgres_database, drop_postgres_database


def _env(database: str, port: int, keys: Path, grain: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({"IDP_DATABASE_URL": database, "IDP_ISSUER": f"http://127.0.0.1:{port}",
                "IDP_KEYS_DIR": str(keys), "IDP_AUDIT_MACHINE_TOKENS": grain,
                "IDP_RETENTION_BACKGROUND": "false", "IDP_LOG_LEVEL": "warning",
                "LDAPNOINIT": "1"})
    return env


async def _tokens(base_url: str, client_id: str, secret: str, count: int) -> None:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    left = iter(range(count))

    async def worker(http: httpx.AsyncClient) -> None:
        for _ in left:
            answer = await http.post("/token", data={"grant_type": "client_credentials"},
                                     headers={"Authorization": f"Basic {basic}"})
            answer.raise_for_status()

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(8)))


async def _measure(database: str) -> tuple[int, int]:
    connection = await asyncpg.connect(database.replace("postgresql://", "postgres://", 1))
    try:
        rows = await connection.fetchval("SELECT count(*) FROM audit_events")
        size = await connection.fetchval(
            "SELECT COALESCE(sum(pg_total_relation_size(relid)), 0) "
            "FROM pg_partition_tree('audit_events')")
        return int(rows), int(size)
    finally:
        await connection.close()


def run_grain(grain: str, count: int) -> dict[str, float]:
    database = asyncio.run(create_postgres_database())
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    port = free_port()
    env = _env(database, port, work / "keys", grain)
    process = None
    try:
        subprocess.run([*IDP_COMMAND, "migrate"], env=env, check=True, capture_output=True)  # noqa: S603
        added = subprocess.run([*IDP_COMMAND, "clients", "add", "--name", "data platform",  # noqa: S603
                                "--grant-type", "client_credentials", "--json"], env=env,
                               check=True, capture_output=True, text=True)
        client = json.loads(added.stdout)
        empty_rows, empty_bytes = asyncio.run(_measure(database))
        with (work / "serve.log").open("wb") as log:
            process = subprocess.Popen([*IDP_COMMAND, "serve", "--port", str(port)],  # noqa: S603
                                       env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_up(f"http://127.0.0.1:{port}/readyz", process, "idp serve")
        asyncio.run(_tokens(f"http://127.0.0.1:{port}", client["client_id"],
                            client["client_secret"], count))
        stop(process)  # a graceful stop writes the summary of the current minute
        process = None
        rows, size = asyncio.run(_measure(database))
        return {"tokens": count, "rows": rows - empty_rows, "bytes": size - empty_bytes,
                "rows_per_1000": (rows - empty_rows) * 1000 / count,
                "bytes_per_1000": (size - empty_bytes) * 1000 / count}
    finally:
        stop(process)
        asyncio.run(drop_postgres_database(database))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=5000)
    args = parser.parse_args(argv)
    results = {grain: run_grain(grain, args.tokens) for grain in ("each", "summary")}
    print("| grain | tokens | audit rows | rows per 1,000 tokens | bytes per 1,000 tokens |")
    print("|---|---|---|---|---|")
    for grain, r in results.items():
        print(f"| {grain} | {r['tokens']:,} | {r['rows']:,} | {r['rows_per_1000']:.1f} | "
              f"{r['bytes_per_1000']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
