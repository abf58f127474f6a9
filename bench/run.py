"""`python -m bench.run` (`make bench`): campus-idp and oidc-provider side by side on loopback.

Starts slapd (100,000 generated people), a fresh PostgreSQL database, Redis keys under a fresh
prefix, `idp serve --workers N` and the oidc-provider peer with N node:cluster workers; then,
per case, a warm-up and a measured wrk run against each server in turn; then password logins
through the login form (campus-idp only), 1 vs 2 replicas, and the 100 vs 100,000 people
check. Writes bench/results/<time>.json (and latest.json, latest.md) and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import purge_load, report, scale
from bench.audit_grain import run_grain
from bench.cases import CASES, Case, Target
from bench.setup import (
    Browser,
    Clients,
    Endpoints,
    authorize_query,
    peer_clients,
    register_cas_service,
    register_idp_clients,
)
from bench.slapd import BENCH_PASSWORD, start_directory
from bench.stack import (
    Backends,
    Server,
    delete_redis_prefix,
    start_idp,
    start_peer,
    use_idp_root,
)
from bench.wrk import Load, Measured, run_wrk
from tests.support.databases import create_postgres_database, drop_postgres_database

PEER_ACCOUNT = {"sub": "bench-student", "name": "张三", "given_name": "三", "family_name": "张",
                "preferred_username": "student", "email": "student@example.edu",
                "email_verified": True}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def measure(load_for: Any, target: Target, warmup: float, duration: float) -> dict[str, Any]:
    if warmup > 0:
        run_wrk(load_for(target), warmup)
    load: Load = load_for(target)
    measured = run_wrk(load, duration)
    return _result(measured, load)


def _result(measured: Measured, load: Load) -> dict[str, Any]:
    data = measured.as_dict()
    data["errors"] = measured.error_count
    data["connections"] = load.connections
    data["requests_per_unit"] = load.requests_per_unit
    return data


def target_for(server: Server, clients: Clients, connections: int) -> Target:
    endpoints = Endpoints.discover(server.base_url)
    return Target(server.name, server.base_url, endpoints, clients,
                  Browser(server, endpoints, clients), connections)


def side_by_side(cases: list[Case], ours: Target, ours_es256: Target, peer: Target,
                 args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for case in cases:
        entry: dict[str, Any] = {"case": case.name, "label": case.label, "unit": case.unit}
        mine = ours_es256 if case.name == "client_credentials_es256" else ours
        for key, target in (("campus_idp", mine), ("peer", peer)):
            log(f"{case.label}: {target.name}")
            entry[key] = measure(case.load, target, args.warmup, args.duration)
            log(f"  {entry[key]['units_per_second']:,.0f} {case.unit}/s, p50 "
                f"{entry[key]['latency_ms']['p50']} ms, p99 {entry[key]['latency_ms']['p99']} ms, "
                f"errors {entry[key]['errors']}")
        results.append(entry)
    return results


def login_load(target: Target, people: int) -> Load:
    n = target.connections
    env = {"BENCH_AUTHORIZE": f"{target.endpoints.authorization}?"
                              f"{authorize_query(target.clients, 'openid profile')}",
           "BENCH_CSRF": secrets.token_urlsafe(32), "BENCH_CSRF_COOKIE": "idp_csrf",
           "BENCH_USER_PREFIX": "bench", "BENCH_USERS_PER_THREAD": str(max(people // n, 1)),
           "BENCH_PASSWORD": BENCH_PASSWORD}
    return Load(target.base_url, "login.lua", env, threads=n, connections=n, requests_per_unit=3)


def cas_load(target: Target, service: str) -> Load:
    """CAS 3.0 sign-ins into an app with an SSO session: a ticket from /cas/login, then its
    p3/serviceValidate (campus-idp only: the peer speaks no CAS)."""
    target.browser.code("openid profile")  # the SSO session (signs in once)
    quoted = quote(service, safe="")
    env = {"BENCH_LOGIN": f"/cas/login?service={quoted}",
           "BENCH_VALIDATE": f"/cas/p3/serviceValidate?service={quoted}&ticket=",
           "BENCH_COOKIE": target.browser.session_cookie()}
    n = target.connections
    return Load(target.base_url, "cas.lua", env, threads=n, connections=n, requests_per_unit=2)


def replicas(backends: Backends, clients: Clients, args: argparse.Namespace, log_dir: Path
             ) -> dict[str, Any]:
    """1 vs 2 `idp serve` processes with `replica_workers` each, sharing every backend; two
    wrk processes (one per replica, half the connections each) measure the pair."""
    workers = args.replica_workers
    first = start_idp(backends, "replica-1", workers, log_dir)
    second = None
    try:
        second = start_idp(backends, "replica-2", workers, log_dir)
        out: dict[str, Any] = {"workers_per_replica": workers}
        for case in [c for c in CASES if c.name in ("client_credentials_rs256", "userinfo")]:
            one = target_for(first, clients, args.connections)
            two = [target_for(s, clients, args.connections // 2) for s in (first, second)]
            log(f"replicas, {case.label}: one replica")
            single = measure(case.load, one, args.warmup, args.duration)
            log(f"replicas, {case.label}: two replicas")
            loads = [case.load(t) for t in two]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda load: run_wrk(load, args.warmup), loads))
                loads = [case.load(t) for t in two]
                pair = list(pool.map(lambda load: run_wrk(load, args.duration), loads))
            total = sum(m.units_per_second for m in pair)
            out[case.name] = {"one": single, "two": [_result(m, load) for m, load
                                                      in zip(pair, loads, strict=True)],
                              "one_per_second": single["units_per_second"],
                              "two_per_second": round(total, 1),
                              "ratio": round(total / single["units_per_second"], 2)
                              if single["units_per_second"] else None}
            log(f"  one {single['units_per_second']:,.0f}/s, two {total:,.0f}/s, "
                f"ratio {out[case.name]['ratio']}")
        return out
    finally:
        first.stop()
        if second is not None:
            second.stop()


SERVER_CASES = ("jwks", "client_credentials_rs256", "introspection", "userinfo", "code_flow")


def servers(backends: Backends, clients: Clients, args: argparse.Namespace, log_dir: Path
            ) -> dict[str, Any]:
    """The same application, workers and logging under uvicorn with httptools and uvloop (`idp
    serve`) and under granian: the evidence for the ASGI server `idp serve` runs. The ratio is
    granian / uvicorn (what switching would gain)."""
    out: dict[str, Any] = {}
    for server in ("uvicorn", "granian"):
        running = start_idp(backends, f"server-{server}", args.workers, log_dir, server=server)
        try:
            target = target_for(running, clients, args.connections)
            for case in [c for c in CASES if c.name in SERVER_CASES]:
                log(f"server {server}: {case.label}")
                measured = measure(case.load, target, args.warmup, args.duration)
                out.setdefault(case.name, {"label": case.label})[server] = measured
                log(f"  {measured['units_per_second']:,.0f}/s, errors {measured['errors']}")
        finally:
            running.stop()
    for data in out.values():
        uvicorn = data["uvicorn"]["units_per_second"]
        data["ratio"] = round(data["granian"]["units_per_second"] / uvicorn, 2) if uvicorn else None
    return out


def scale_check(backends: Backends, clients: Clients, args: argparse.Namespace, log_dir: Path,
                stack: ExitStack) -> dict[str, Any]:
    small_slapd, _ = start_directory(100)
    stack.callback(small_slapd.stop)
    small = Backends(small_slapd, backends.database_url, backends.keys_dir)
    results = {}
    for label, these, people in (("100 people", small, 100), (f"{args.people:,} people", backends,
                                                              args.people)):
        server = start_idp(these, f"scale-{people}", 1, log_dir)
        try:
            log(f"scale: {label}")
            results[str(people)] = scale.measure(label, server, these.slapd, clients, people,
                                                 args.scale_count)
        finally:
            server.stop()
            delete_redis_prefix(these.redis_prefix)
    return results


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="workers of each server (idp serve --workers, node:cluster)")
    parser.add_argument("--replica-workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16,
                        help="concurrent connections (one wrk thread each)")
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--scale-count", type=int, default=200)
    parser.add_argument("--cases", default=",".join(c.name for c in CASES))
    parser.add_argument("--idp-root", type=Path, default=None,
                        help="run campus-idp from this checkout (a copy with a change)")
    parser.add_argument("--skip", default="",
                        help="comma list of: login, cas, servers, replicas, scale, audit, purge")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    skip = set(filter(None, args.skip.split(",")))
    if args.idp_root is not None:
        use_idp_root(args.idp_root)
    cases = [c for c in CASES if c.name in args.cases.split(",")]
    started = time.strftime("%Y%m%dT%H%M%S")
    results: dict[str, Any] = {"started": started, "machine": report.machine(),
                               "settings": {k: str(v) if isinstance(v, Path) else v
                                            for k, v in vars(args).items()}}
    log(f"machine: {results['machine']}")
    log_dir = report.RESULTS / f"{started}-logs"  # server logs, kept for a failed run
    log_dir.mkdir(parents=True, exist_ok=True)
    keys_dir = Path(tempfile.mkdtemp(prefix="idp-bench-keys-"))
    with ExitStack() as stack:
        log(f"slapd: loading {args.people:,} generated people with slapadd")
        slapd, loaded = start_directory(args.people)
        stack.callback(slapd.stop)
        results["slapadd_seconds"] = round(loaded, 1)
        database_url = asyncio.run(create_postgres_database())
        stack.callback(lambda: asyncio.run(drop_postgres_database(database_url)))
        backends = Backends(slapd, database_url, keys_dir)
        stack.callback(lambda: delete_redis_prefix(backends.redis_prefix))

        ours = start_idp(backends, "campus-idp", args.workers, log_dir)
        stack.callback(ours.stop)
        clients = register_idp_clients(ours)
        mine = target_for(ours, clients, args.connections)
        ours_es = start_idp(backends, "campus-idp-es256", args.workers, log_dir,
                            IDP_TOKENS_SIGNING_ALG="ES256")
        stack.callback(ours_es.stop)
        mine_es = target_for(ours_es, clients, args.connections)
        their_clients, metadata = peer_clients()
        peer = start_peer(args.workers, metadata, PEER_ACCOUNT, log_dir)
        stack.callback(peer.stop)
        stack.callback(lambda: delete_redis_prefix(peer.env["PEER_REDIS_PREFIX"]))
        theirs = target_for(peer, their_clients, args.connections)

        results["cases"] = side_by_side(cases, mine, mine_es, theirs, args)
        ours_es.stop()
        if "login" not in skip:
            log("password logins through the login form (campus-idp)")
            login = measure(lambda t: login_load(t, args.people), mine, args.warmup, args.duration)
            login["per_core"] = round(login["units_per_second"] / (os.cpu_count() or 1), 1)
            results["logins"] = login
            log(f"  {login['units_per_second']:,.0f} logins/s ({login['per_core']}/core), "
                f"errors {login['errors']}")
        if "cas" not in skip:
            log("CAS: service tickets issued and validated (campus-idp)")
            service = register_cas_service(ours)
            cas = measure(lambda t: cas_load(t, service), mine, args.warmup, args.duration)
            cas["per_core"] = round(cas["units_per_second"] / (os.cpu_count() or 1), 1)
            results["cas"] = cas
            log(f"  {cas['units_per_second']:,.0f} validated tickets/s ({cas['per_core']}/core), "
                f"errors {cas['errors']}")
        ours.stop()
        peer.stop()
        if "servers" not in skip:
            results["servers"] = servers(backends, clients, args, log_dir)
        if "replicas" not in skip:
            results["replicas"] = replicas(backends, clients, args, log_dir)
        if "scale" not in skip:
            results["scale"] = scale_check(backends, clients, args, log_dir, stack)
        if "audit" not in skip:
            log("audit rows and bytes per 1,000 machine tokens (each vs summary)")
            results["audit_grain"] = {grain: run_grain(grain, 5000)
                                      for grain in ("each", "summary")}
            for grain, figures in results["audit_grain"].items():
                log(f"  {grain}: {figures['rows_per_1000']:.1f} rows, "
                    f"{figures['bytes_per_1000']:,.0f} bytes per 1,000 tokens")
        if "purge" not in skip:
            log("password logins with and without a retention purge running (interleaved pairs)")
            results["purge_load"] = purge_load.measure(
                backends.slapd, args.people, log_dir, workers=args.workers,
                connections=args.connections, warmup=args.warmup, duration=args.duration)
            log(f"  p99 ratio {results['purge_load']['p99_ratio_median']}, failed requests "
                f"{results['purge_load']['failed_requests']}, problems "
                f"{results['purge_load']['problems']}")
        results["load_average_after"] = list(os.getloadavg())
    name = f"{started}{'-idp-root' if args.idp_root else ''}.json"
    path = report.write(results, name, latest=args.idp_root is None)
    print()
    print(report.text_table(results))
    print(report.summary(results))
    print(f"\nresults: {path}")
    shutil.rmtree(keys_dir, ignore_errors=True)
    failed = sum(side["errors"] for case in results["cases"] for side in
                 (case["campus_idp"], case["peer"])) + results.get("logins", {}).get("errors", 0) \
        + results.get("cas", {}).get("errors", 0) \
        + (0 if results.get("purge_load", {}).get("ok", True) else 1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
