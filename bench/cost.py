"""`python -m bench.cost CASE [CASE…] [--against DIR]`: CPU time per unit, to measure one change.

Throughput on a shared two-core VM moves by ±10% between runs minutes apart, more than most
single changes gain. CPU time spent per unit (per token, per login) moves far less: it does not
depend on what else had the core. This starts the bench's stack (slapd, a fresh PostgreSQL
database, Redis) and campus-idp with one worker from this checkout, with --against also from
another checkout (a copy with or without a change; its own database, so that schemas may
differ, and its own Redis prefix, on the same servers), and with --peer the
oidc-provider peer with one node:cluster worker; then, per case, runs wrk against each in turn,
`--rounds` times interleaved, and reads from /proc the CPU seconds each server (all its
processes and threads), each backend (postgres, redis-server, slapd) and wrk spent during the
run. It prints the median µs of CPU per unit, and the ratios to the first server.

On a machine whose cores are all busy, units per second follow CPU per unit: this is the
bench's ratio without the noise (the peer with one worker also signs in libuv's thread pool,
so its units per second here are not comparable, its CPU per unit is).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.cases import CASES, Target
from bench.report import RESULTS
from bench.run import PEER_ACCOUNT, cas_load, login_load, target_for
from bench.setup import peer_clients, register_cas_service, register_idp_clients
from bench.slapd import start_directory
from bench.stack import (
    Backends,
    Server,
    delete_redis_prefix,
    start_idp,
    start_peer,
    use_idp_root,
)
from bench.wrk import Load, run_wrk
from tests.support.databases import create_postgres_database, drop_postgres_database

BACKENDS = ("postgres", "redis-server", "slapd")
LOAD = "wrk"  # the load generator: what a response costs the client shows here
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
    before[LOAD] = _children_cpu()
    measured = run_wrk(load, seconds)
    after = cpu_snapshot(server.process.pid)
    after[LOAD] = _children_cpu()  # wrk has been waited for: its CPU time is counted here
    if measured.error_count:
        raise RuntimeError(f"{server.name}: {measured.error_count} errors")
    units = max(measured.ok, 1)
    out = {key: round(1e6 * (after[key] - before[key]) / units, 1) for key in before}
    out["per_second"] = round(measured.units_per_second, 1)
    return out


@dataclass
class Contender:
    """A server under measurement; `es256` serves the ES256 case (campus-idp signs access tokens
    with one algorithm per process, so that case has its own process, as in bench/run.py)."""

    server: Server
    target: Target
    es256: tuple[Server, Target] | None = None

    def for_case(self, case: str) -> tuple[Server, Target]:
        if case == "client_credentials_es256" and self.es256 is not None:
            return self.es256
        return self.server, self.target


def _start(backends: Backends, name: str, root: Path | None, **extra: str) -> Server:
    use_idp_root(root)
    return start_idp(backends, name, 1, RESULTS, **extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost")
    parser.add_argument("cases", nargs="+", choices=[c.name for c in CASES] + ["login", "cas"])
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout of campus-idp to compare with")
    parser.add_argument("--peer", action="store_true",
                        help="compare with the oidc-provider peer (one node:cluster worker)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    if args.peer and ("login" in args.cases or "cas" in args.cases):
        parser.error("the peer has no password login and no CAS")
    RESULTS.mkdir(exist_ok=True)
    slapd, _ = start_directory(args.people)
    keys_dir = Path(tempfile.mkdtemp(prefix="idp-bench-keys-"))
    databases: list[Backends] = []
    started: list[Server] = []
    contenders: list[Contender] = []
    es256 = "client_credentials_es256" in args.cases
    try:
        roots = [("this", None)] + ([("against", args.against)] if args.against else [])
        for name, root in roots:
            backends = Backends(slapd, asyncio.run(create_postgres_database()), keys_dir)
            databases.append(backends)
            server = _start(backends, f"cost-{name}", root)
            started.append(server)
            clients = register_idp_clients(server)
            contender = Contender(server, target_for(server, clients, args.connections))
            if es256:
                es = _start(backends, f"cost-{name}-es256", root, IDP_TOKENS_SIGNING_ALG="ES256")
                started.append(es)
                contender.es256 = (es, target_for(es, clients, args.connections))
            contenders.append(contender)
        if args.peer:
            their_clients, metadata = peer_clients()
            peer = start_peer(1, metadata, PEER_ACCOUNT, RESULTS)
            started.append(peer)
            contenders.append(Contender(peer, target_for(peer, their_clients, args.connections)))
        loads: dict[str, Callable] = {c.name: c.load for c in CASES}
        loads["login"] = lambda target: login_load(target, args.people)
        if "cas" in args.cases:
            services = [register_cas_service(c.server) for c in contenders
                        if c.server.name.startswith("cost-")]
            loads["cas"] = lambda target: cas_load(target, services[0])
        for case in args.cases:
            samples: list[list[dict[str, float]]] = [[] for _ in contenders]
            for contender in contenders:
                run_wrk(loads[case](contender.for_case(case)[1]), 3)  # warm
            for _ in range(args.rounds):
                for index, contender in enumerate(contenders):
                    server, target = contender.for_case(case)
                    samples[index].append(cost_of(server, loads[case](target), args.seconds))
            print(f"\n== {case}: median µs of CPU per unit over {args.rounds} rounds")
            medians = []
            for contender, rows in zip(contenders, samples, strict=True):
                median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
                medians.append(median)
                spread = [row["server"] for row in rows]
                print(f"  {contender.for_case(case)[0].name:18} server {median['server']:8.1f} "
                      f"(runs {spread}) " + " ".join(f"{b} {median[b]:.1f}" for b in (*BACKENDS, LOAD))
                      + f"  {median['per_second']:,.0f}/s")
            first = {k: medians[0][k] for k in ("server", *BACKENDS)}
            for contender, median in zip(contenders[1:], medians[1:], strict=True):
                other = {k: median[k] for k in ("server", *BACKENDS)}
                print(f"  {contenders[0].server.name} / {contender.server.name}: server "
                      f"{first['server'] / other['server']:.3f}, with backends "
                      f"{sum(first.values()) / sum(other.values()):.3f}")
    finally:
        for server in started:
            server.stop()
        slapd.stop()
        for backends in databases:
            delete_redis_prefix(backends.redis_prefix)
            asyncio.run(drop_postgres_database(backends.database_url))
        if args.peer:
            delete_redis_prefix(started[-1].env["PEER_REDIS_PREFIX"])
        shutil.rmtree(keys_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
