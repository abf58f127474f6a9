"""`python -m bench.purge_load [--pairs N] [--duration S]`: password logins with and without a
retention purge running beside them, on the bench's stack (slapd with generated people, a fresh
PostgreSQL database, Redis, `idp serve --workers N`).

The database is seeded (SQL, generate_series) with a backlog the purge must remove, in the
monthly audit partitions the migration and the purge make: two whole months of people's audit
events past their 365 days (dropped as partitions), machine-token audit rows past their 30 days
in months that also hold people's events (deleted in batches), expired and revoked refresh
tokens and finished logout deliveries past their 7 days (batches); and rows the purge must keep
(recent people's events, live refresh tokens, pending deliveries), counted before and after.

Then pairs of wrk windows of the bench's login load (bench/lua/login.lua: GET /authorize, the
form, POST the password checked against slapd, each login's audit row committed before the
answer): A without a purge, B with `idp maintenance purge --json` running (the window starts
once the purge holds its advisory lock, so its process start-up is not in it); A first in odd
pairs, B first in even ones, as an A/A run (--control) found the second window of a pair faster
than the first (p99 ratios 0.67-0.90). Before each pair
the backlog is seeded again (then VACUUM ANALYZE and a CHECKPOINT, so that the seed's own writes
do not land in the A window); after each B the purge is waited for, its report checked (every
seeded row removed, every kept row there), and the tables vacuumed, so autovacuum's work after a
purge is not left to fall into the next A window. The server's own background purge is off
(IDP_RETENTION_BACKGROUND=false) so that only the B windows purge.

Per window: logins/s, p50/p99 per request, failed requests. The figure: the p99 ratio B/A per
pair, the median and spread over the pairs. Exit 1 on any failed request or a purge that did not
remove (or wrongly removed) rows; a median p99 ratio above 1.20 is flagged, not hidden.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench import stack
from bench.slapd import start_directory
from bench.stack import IDP_COMMAND, Backends, Server, delete_redis_prefix, start_idp
from bench.wrk import run_wrk
from idp.db.partitions import create_month, month_start, next_month
from idp.db.purge import ADVISORY_KEY, MONTHS_KIND
from tests.support.databases import create_postgres_database, drop_postgres_database

# the p99 ratio (with purge / without) the issue allows
P99_LIMIT = 1.20
# the backlog seeded before each pair (rows); kept rows are seeded once
OLD_MONTH_ROWS = 100_000  # people's audit events per month past 365 days: two months, dropped
MACHINE_ROWS = 120_000  # machine-token audit rows 40-100 days old: batched delete
REFRESH_ROWS = 30_000  # refresh tokens expired or revoked 10-40 days ago: batched delete
LOGOUT_ROWS = 10_000  # logout deliveries finished 8-30 days ago: batched delete
KEPT_AUDIT, KEPT_REFRESH, KEPT_LOGOUT = 50_000, 10_000, 1_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _pg(url: str) -> str:
    return url.replace("postgresql://", "postgres://", 1)


def _old_months(now: datetime) -> list[datetime]:
    """Two whole months that ended more than 365 days ago."""
    last = month_start(now - timedelta(days=400))
    before = month_start(last - timedelta(days=1))
    return [before, last]


async def _ensure_months(conn: asyncpg.Connection, now: datetime) -> None:
    """Every month's partition from 14 months ago to now, as a year of purges leaves them."""
    month = month_start(now - timedelta(days=430))
    while month <= month_start(now):
        await conn.execute(create_month(month))
        month = next_month(month)


async def seed_kept(url: str, client_id: str) -> None:
    """The rows the purge must leave: recent people's events, live tokens, pending deliveries."""
    conn = await asyncpg.connect(_pg(url))
    try:
        await _ensure_months(conn, datetime.now(UTC))
        await conn.execute(
            "INSERT INTO audit_events (at, kind, outcome, actor, client_id, ip, detail) "
            "SELECT now() - (n % 300 + 1) * interval '1 day' - n * interval '1 second', 'login', "
            "'success', 'kept' || n, $2, '10.0.0.1', '{\"method\": \"password\"}'::json "
            "FROM generate_series(1, $1) AS n", KEPT_AUDIT, client_id)
        await conn.execute(
            "INSERT INTO refresh_tokens (digest, family_id, client_id, subject, scope, amr, "
            "created_at, expires_at) SELECT md5('kept-' || n), md5('kept-family-' || n), $2, "
            "'kept', 'openid offline_access', '[\"pwd\"]'::json, now() - interval '1 day', "
            "now() + interval '29 days' FROM generate_series(1, $1) AS n", KEPT_REFRESH, client_id)
        await conn.execute(
            "INSERT INTO logout_deliveries (client_id, uri, subject, sid, attempts, status, "
            "created_at) SELECT $2, 'https://rp.example.edu/logout', 'kept', md5('sid' || n), 1, "
            "'pending', now() - interval '20 days' FROM generate_series(1, $1) AS n",
            KEPT_LOGOUT, client_id)
    finally:
        await conn.close()


async def seed_backlog(url: str, client_id: str, round_no: int) -> dict[str, Any]:
    """The rows one purge must remove (module docstring); what each kind should lose."""
    now = datetime.now(UTC)
    began = time.monotonic()
    conn = await asyncpg.connect(_pg(url))
    try:
        await _ensure_months(conn, now)  # the dropped months again
        for start in _old_months(now):
            seconds = int((next_month(start) - start).total_seconds()) - 1
            await conn.execute(
                "INSERT INTO audit_events (at, kind, outcome, actor, client_id, ip, detail) "
                "SELECT $1::timestamptz + (n * $3::bigint / $2) * interval '1 second', 'login', "
                "'success', 'old' || n, $4, '10.0.0.2', '{\"method\": \"password\"}'::json "
                "FROM generate_series(1, $2) AS n", start, OLD_MONTH_ROWS, seconds, client_id)
        await conn.execute(
            "INSERT INTO audit_events (at, kind, outcome, actor, client_id, ip, detail) "
            "SELECT now() - interval '40 days' - (n % 60) * interval '1 day' "
            "- n * interval '10 milliseconds', 'token', 'success', 'platform', 'platform', "
            "'10.0.0.3', '{\"grant\": \"client_credentials\", \"scope\": \"api:read\"}'::json "
            "FROM generate_series(1, $1) AS n", MACHINE_ROWS)
        await conn.execute(
            "INSERT INTO refresh_tokens (digest, family_id, client_id, subject, scope, amr, "
            "created_at, expires_at, revoked_at) SELECT md5($2 || '-' || n), "
            "md5($2 || '-family-' || n), $3, 'bench' || n, 'openid offline_access', "
            "'[\"pwd\"]'::json, now() - interval '60 days', "
            "CASE WHEN n % 2 = 0 THEN now() - (10 + n % 30) * interval '1 day' "
            "ELSE now() + interval '20 days' END, "
            "CASE WHEN n % 2 = 1 THEN now() - (10 + n % 30) * interval '1 day' END "
            "FROM generate_series(1, $1) AS n", REFRESH_ROWS, f"round{round_no}", client_id)
        await conn.execute(
            "INSERT INTO logout_deliveries (client_id, uri, subject, sid, attempts, status, "
            "last_error, created_at, delivered_at) SELECT $2, 'https://rp.example.edu/logout', "
            "'bench' || n, md5('sid' || n), 1 + n % 3, "
            "CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'delivered' END, "
            "CASE WHEN n % 10 = 0 THEN 'connection refused' END, "
            "now() - (8 + n % 22) * interval '1 day', "
            "CASE WHEN n % 10 <> 0 THEN now() - (8 + n % 22) * interval '1 day' END "
            "FROM generate_series(1, $1) AS n", LOGOUT_ROWS, client_id)
        await conn.execute("VACUUM ANALYZE audit_events")
        await conn.execute("VACUUM ANALYZE refresh_tokens")
        await conn.execute("VACUUM ANALYZE logout_deliveries")
        # the seed's dirty pages written now, not by a checkpoint during the next window
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return {"expected": {MONTHS_KIND: 2 * OLD_MONTH_ROWS, "machine_audit": MACHINE_ROWS,
                         "refresh_tokens": REFRESH_ROWS, "logout_deliveries": LOGOUT_ROWS},
            "seconds": round(time.monotonic() - began, 1)}


async def kept_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(_pg(url))
    try:
        return {
            "audit": await conn.fetchval(
                "SELECT count(*) FROM audit_events WHERE actor LIKE 'kept%'"),
            "refresh_tokens": await conn.fetchval(
                "SELECT count(*) FROM refresh_tokens WHERE subject = 'kept'"),
            "logout_deliveries": await conn.fetchval(
                "SELECT count(*) FROM logout_deliveries WHERE subject = 'kept'"),
        }
    finally:
        await conn.close()


async def vacuum(url: str) -> float:
    began = time.monotonic()
    conn = await asyncpg.connect(_pg(url))
    try:
        for table in ("audit_events", "refresh_tokens", "logout_deliveries"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return round(time.monotonic() - began, 1)


def _purge_holds_lock(url: str, process: subprocess.Popen[str], seconds: float = 60) -> float:
    """Wait until the purge holds its advisory lock (it has begun); the monotonic time then."""
    async def poll() -> float:
        conn = await asyncpg.connect(_pg(url))
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if await conn.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND classid = $1 AND objid = $2", ADVISORY_KEY >> 32,
                        ADVISORY_KEY & 0xFFFFFFFF):
                    return time.monotonic()
                if process.poll() is not None:
                    raise RuntimeError(f"idp maintenance purge exited ({process.returncode}) "
                                       "before it took its lock")
                await asyncio.sleep(0.02)
        finally:
            await conn.close()
        raise RuntimeError(f"the purge did not take its lock within {seconds:.0f} s")

    return asyncio.run(poll())


def _window(measured: Any, load: Any) -> dict[str, Any]:
    data = measured.as_dict()
    data["errors"] = measured.error_count
    data["logins_per_second"] = data["units_per_second"]
    data["requests_per_unit"] = load.requests_per_unit
    return data


def measure(slapd: Any, people: int, log_dir: Path, *, workers: int, connections: int = 16,
            pairs: int = 4, warmup: float = 10, duration: float = 15,
            control: bool = False) -> dict[str, Any]:
    """The whole measurement on a fresh database and its own `idp serve` (sharing `slapd`).
    `control`: an A/A run, each purge started only after its window "with" has ended (the same
    steps otherwise), to show how far two windows differ on this machine with no purge in
    either."""
    from bench.run import login_load, target_for  # bench.run imports this module
    from bench.setup import register_idp_clients

    database = asyncio.run(create_postgres_database())
    keys = Path(tempfile.mkdtemp(prefix="idp-bench-purge-keys-"))
    backends = Backends(slapd, database, keys)
    server: Server | None = None
    try:
        server = start_idp(backends, "purge-load", workers, log_dir,
                           IDP_RETENTION_BACKGROUND="false")
        clients = register_idp_clients(server)
        target = target_for(server, clients, connections)
        asyncio.run(seed_kept(database, clients.web.client_id))
        kept = asyncio.run(kept_counts(database))
        out: dict[str, Any] = {"pairs": [], "connections": connections, "workers": workers,
                               "control": control,
                               "duration": duration, "people": people,
                               "load_average_before": list(os.getloadavg()),
                               "backlog": {MONTHS_KIND: 2 * OLD_MONTH_ROWS,
                                           "machine_audit": MACHINE_ROWS,
                                           "refresh_tokens": REFRESH_ROWS,
                                           "logout_deliveries": LOGOUT_ROWS},
                               "kept": kept, "problems": []}
        log(f"purge under load: warm-up {warmup:.0f} s of logins")
        if warmup > 0:
            run_wrk(login_load(target, people), warmup)
        for n in range(pairs):
            seeded = asyncio.run(seed_backlog(database, clients.web.client_id, n))
            pair: dict[str, Any] = {"seed_seconds": seeded["seconds"],
                                    "load_average": list(os.getloadavg())}
            # the order alternates: an A/A run (--control) found the second window of a pair
            # faster than the first, so that bias falls on both sides alike
            pair["order"] = "without first" if n % 2 == 0 else "with first"
            if n % 2 == 0:
                load = login_load(target, people)
                pair["without"] = _window(run_wrk(load, duration), load)
            pair["with"], pair["purge"] = _with_purge(server, target, people, database,
                                                      duration, login_load, control)
            pair["vacuum_seconds"] = asyncio.run(vacuum(database))
            if n % 2 == 1:
                load = login_load(target, people)
                pair["without"] = _window(run_wrk(load, duration), load)
            _check(pair, seeded["expected"], out["problems"], n)
            after = asyncio.run(kept_counts(database))
            if after != kept:
                out["problems"].append(f"pair {n + 1}: kept rows changed: {kept} -> {after}")
            a, b = pair["without"]["latency_ms"], pair["with"]["latency_ms"]
            pair["p99_ratio"] = round(b["p99"] / a["p99"], 3) if a["p99"] else None
            pair["p50_ratio"] = round(b["p50"] / a["p50"], 3) if a["p50"] else None
            out["pairs"].append(pair)
            log(f"  pair {n + 1}: without p50/p99 {a['p50']}/{a['p99']} ms, errors "
                f"{pair['without']['errors']}; with p50/p99 {b['p50']}/{b['p99']} ms, errors "
                f"{pair['with']['errors']}; p99 ratio {pair['p99_ratio']}; purge "
                f"{pair['purge']['seconds']} s, covered {pair['purge']['covered']:.0%} of "
                f"the window, removed {pair['purge']['removed']}")
        _summarise(out)
        out["load_average_after"] = list(os.getloadavg())
        return out
    finally:
        if server is not None:
            server.stop()
        delete_redis_prefix(backends.redis_prefix)
        asyncio.run(drop_postgres_database(database))


def _with_purge(server: Server, target: Any, people: int, database: str, duration: float,
                login_load: Any, control: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """One B window: `idp maintenance purge --json` started, the window measured from the
    moment it holds its lock; then the purge waited for and its report read. `control`: the
    window first, then the purge."""
    load = login_load(target, people)
    if control:
        measured = run_wrk(load, duration)
    purge = subprocess.Popen([*IDP_COMMAND, "maintenance", "purge", "--json"],  # noqa: S603
                             env=server.env, cwd=stack.IDP_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        locked = _purge_holds_lock(database, purge)
        began = time.monotonic()
        if not control:
            measured = run_wrk(load, duration)
        ended = time.monotonic()
        stdout, stderr = purge.communicate(timeout=900)
    finally:
        if purge.poll() is None:
            purge.kill()
            purge.wait()
    if purge.returncode != 0:
        raise RuntimeError(f"idp maintenance purge failed ({purge.returncode}): {stderr.strip()}")
    report = json.loads(stdout)
    purging_until = locked + float(report["seconds"])
    covered = 0.0 if control else \
        max(0.0, min(ended, purging_until) - began) / (ended - began)
    return _window(measured, load), {
        "removed": report["removed"], "months": report["months"], "seconds": report["seconds"],
        "finished": report["finished"], "skipped": report["skipped"], "covered": round(covered, 3)}


def _check(pair: dict[str, Any], expected: dict[str, int], problems: list[str], n: int) -> None:
    """Failed requests, and a purge that did not remove exactly the seeded rows."""
    purge = pair["purge"]
    for side in ("without", "with"):
        if pair[side]["errors"]:
            problems.append(f"pair {n + 1}: {pair[side]['errors']} failed requests {side} purge")
    if purge["skipped"] or not purge["finished"]:
        problems.append(f"pair {n + 1}: the purge skipped or did not finish: {purge}")
    for kind, rows in expected.items():
        if purge["removed"].get(kind) != rows:
            problems.append(f"pair {n + 1}: the purge removed {purge['removed'].get(kind)} "
                            f"{kind}, {rows} were seeded")
    if purge["removed"].get("audit"):
        problems.append(f"pair {n + 1}: the purge removed {purge['removed']['audit']} people's "
                        "audit rows row by row; none were seeded for that")


def _summarise(out: dict[str, Any]) -> None:
    ratios = [p["p99_ratio"] for p in out["pairs"] if p["p99_ratio"] is not None]
    p50s = [p["p50_ratio"] for p in out["pairs"] if p["p50_ratio"] is not None]
    out["p99_ratio_median"] = round(statistics.median(ratios), 3) if ratios else None
    out["p99_ratio_spread"] = [min(ratios), max(ratios)] if ratios else None
    out["p50_ratio_median"] = round(statistics.median(p50s), 3) if p50s else None
    out["failed_requests"] = sum(p[side]["errors"] for p in out["pairs"]
                                 for side in ("without", "with"))
    out["p99_limit"] = P99_LIMIT
    out["flagged"] = out["p99_ratio_median"] is not None and out["p99_ratio_median"] > P99_LIMIT
    out["ok"] = not out["problems"]


def markdown(out: dict[str, Any]) -> str:
    """The table bench/README.md shows (and bench/report.py prints)."""
    lines = ["| pair | without: logins/s, p50 / p99 ms, failed | with purge: logins/s, p50 / "
             "p99 ms, failed | p99 ratio | purge: s, window covered, rows removed |",
             "|---|---|---|---|---|"]
    for n, pair in enumerate(out["pairs"], 1):
        a, b, purge = pair["without"], pair["with"], pair["purge"]
        removed = sum(purge["removed"].values())
        lines.append(
            f"| {n}{' (with first)' if pair.get('order') == 'with first' else ''} | "
            f"{a['logins_per_second']:,.0f}, {a['latency_ms']['p50']} / "
            f"{a['latency_ms']['p99']}, {a['errors']} | {b['logins_per_second']:,.0f}, "
            f"{b['latency_ms']['p50']} / {b['latency_ms']['p99']}, {b['errors']} | "
            f"{pair['p99_ratio']:.2f} | {purge['seconds']:.1f}, {purge['covered']:.0%}, "
            f"{removed:,} |")
    spread = out["p99_ratio_spread"] or [0, 0]
    lines.append("")
    if out.get("control"):
        lines.append("CONTROL (A/A): each purge ran after its window; no window had a purge")
    lines.append(f"p99 ratio (with / without), median of {len(out['pairs'])} pairs: "
                 f"{out['p99_ratio_median']:.2f} (spread {spread[0]:.2f}–{spread[1]:.2f}; "
                 f"limit {P99_LIMIT:.2f}{', EXCEEDED' if out['flagged'] else ''}); p50 ratio "
                 f"{out['p50_ratio_median']:.2f}; failed requests {out['failed_requests']}")
    for problem in out["problems"]:
        lines.append(f"PROBLEM: {problem}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.purge_load",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=4,
                        help="pairs of windows, the order alternating (an even number)")
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--control", action="store_true",
                        help="A/A: each purge only after its window (the machine's noise alone)")
    parser.add_argument("--idp-root", type=Path, default=None,
                        help="run campus-idp from this checkout (a copy with a change)")
    args = parser.parse_args(argv)
    if args.idp_root is not None:
        stack.use_idp_root(args.idp_root)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-purge-logs-"))
    with ExitStack() as cleanup:
        log(f"slapd: loading {args.people:,} generated people with slapadd")
        slapd, _ = start_directory(args.people)
        cleanup.callback(slapd.stop)
        out = measure(slapd, args.people, log_dir, workers=args.workers,
                      connections=args.connections, pairs=args.pairs, warmup=args.warmup,
                      duration=args.duration, control=args.control)
    print()
    print(markdown(out))
    print(f"\nload average before/after: {out['load_average_before'][0]:.2f} / "
          f"{out['load_average_after'][0]:.2f}; server log: {log_dir}")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
