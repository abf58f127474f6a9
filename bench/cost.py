"""`python -m bench.cost CASE [CASE…] [--against DIR]`: CPU time per unit, to measure one change.

Throughput on a shared two-core VM moves by ±10% between runs minutes apart, more than most
single changes gain. CPU time spent per unit (per token, per login) moves far less: it does not
depend on what else had the core. This starts the bench's stack (slapd, a fresh PostgreSQL
database, Redis) and campus-idp with one worker from this checkout, and with --against also from
another checkout (a copy with or without a change) on the same backends; then, per case, runs
wrk against each in turn, `--rounds` times interleaved, and reads from /proc the CPU seconds
each server (all its processes and threads) and each backend (postgres, redis-server, slapd)
spent during the run. It prints the median µs of CPU per unit, and the ratio of the two servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import stack
from bench.cases import CASES
from bench.report import RESULTS
from bench.run import login_load, target_for
from bench.setup import register_idp_clients
from bench.slapd import start_directory
from bench.stack import Backends, Server, delete_redis_prefix, start_idp
from bench.wrk import Load, run_wrk
from tests.support.databases import create_postgres_database, drop_postgres_database

BACKENDS = ("postgres", "redis-server", "slapd")
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its threads, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        parent = int(text.rpartition(")")[2].split()[1])
        found.append((int(entry), parent, name))
    return found


def cpu_snapshot(root_pid: int) -> dict[str, float]:
    """CPU seconds so far of the process tree under root_pid ("server") and of each backend."""
    processes = _processes()
    tree, grew = {root_pid}, True
    while grew:
        grew = False
        for pid, parent, _ in processes:
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    out = {"server": sum(_cpu_of(pid) for pid in tree)}
    for backend in BACKENDS:
        out[backend] = sum(_cpu_of(pid) for pid, _, name in processes
                           if name.startswith(backend))
    return out


def cost_of(server: Server, load: Load, seconds: float) -> dict[str, float]:
    """µs of CPU per unit while wrk runs `load` for `seconds`, by process group."""
    before = cpu_snapshot(server.process.pid)
    measured = run_wrk(load, seconds)
    after = cpu_snapshot(server.process.pid)
    if measured.error_count:
        raise RuntimeError(f"{server.name}: {measured.error_count} errors")
    units = max(measured.ok, 1)
    out = {key: round(1e6 * (after[key] - before[key]) / units, 1) for key in before}
    out["per_second"] = round(measured.units_per_second, 1)
    return out


def _start(backends: Backends, name: str, root: Path | None) -> Server:
    if root is None:
        stack.IDP_ROOT = stack.ROOT
        stack.IDP_COMMAND[:] = [str(stack.IDP_BIN)]
    else:
        stack.use_idp_root(root)
    return start_idp(backends, name, 1, RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost")
    parser.add_argument("cases", nargs="+", choices=[c.name for c in CASES] + ["login"])
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout to compare with (runs interleaved)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    slapd, _ = start_directory(args.people)
    database_url = asyncio.run(create_postgres_database())
    keys_dir = Path(tempfile.mkdtemp(prefix="idp-bench-keys-"))
    backends = Backends(slapd, database_url, keys_dir)
    servers: list[Server] = []
    try:
        servers.append(_start(backends, "cost-this", None))
        if args.against is not None:
            servers.append(_start(backends, "cost-against", args.against))
        clients = register_idp_clients(servers[0])
        targets = [target_for(server, clients, args.connections) for server in servers]
        loads: dict[str, Callable] = {c.name: c.load for c in CASES}
        loads["login"] = lambda target: login_load(target, args.people)
        for case in args.cases:
            samples: list[list[dict[str, float]]] = [[] for _ in servers]
            for target in targets:
                run_wrk(loads[case](target), 3)  # warm
            for _ in range(args.rounds):
                for index, (server, target) in enumerate(zip(servers, targets, strict=True)):
                    samples[index].append(cost_of(server, loads[case](target), args.seconds))
            print(f"\n== {case}: median µs of CPU per unit over {args.rounds} rounds")
            medians = []
            for server, rows in zip(servers, samples, strict=True):
                median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
                medians.append(median)
                spread = [row["server"] for row in rows]
                print(f"  {server.name:13} server {median['server']:8.1f} (runs {spread}) "
                      + " ".join(f"{b} {median[b]:.1f}" for b in BACKENDS)
                      + f"  {median['per_second']:,.0f}/s")
            if len(medians) == 2:
                this, other = ({k: m[k] for k in ("server", *BACKENDS)} for m in medians)
                print(f"  this / against: server {this['server'] / other['server']:.3f}, "
                      f"with backends {sum(this.values()) / sum(other.values()):.3f}")
    finally:
        for server in servers:
            server.stop()
        slapd.stop()
        delete_redis_prefix(backends.redis_prefix)
        asyncio.run(drop_postgres_database(database_url))
        shutil.rmtree(keys_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
