"""`python -m bench.run` (`make bench`): campus-idp and oidc-provider side by side on loopback.

Checks that the machine is idle, then starts slapd (100,000 generated people), a fresh
PostgreSQL database, Redis keys under a fresh prefix, `idp serve --workers N` and the
oidc-provider peer with N node:cluster workers; then, per case, interleaved rounds of wrk runs
against each server in turn (the medians and the ratio's range), each measured run watched for
CPU spent outside the bench (bench/quiet.py); then, campus-idp only: password logins through the
login form and slapd's ceiling beside them, CAS, device-grant polling, QR sign-in long polls;
then the ASGI server check, 1 vs 2 replicas, the 100 vs 100,000 people check and the audit
grain. Writes bench/results/<time>.json (and latest.json, latest.md) and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import ldap_ceiling, purge_load, qr, report, scale
from bench.audit_grain import run_grain
from bench.cases import CASES, Case, Target
from bench.device import DevicePolling, counted, register_device_client
from bench.quiet import Meter, describe, idle_check, verdict
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


def measure(load_for: Any, target: Target, warmup: float, duration: float,
            meter: Meter | None = None) -> dict[str, Any]:
    """A warm-up (when `warmup` > 0) and a measured wrk run; with a meter, what the machine
    spent outside the bench meanwhile (`machine`)."""
    if warmup > 0:
        run_wrk(load_for(target), warmup)
    load: Load = load_for(target)
    if meter is not None:
        meter.start()
    measured = run_wrk(load, duration)
    data = _result(measured, load)
    if meter is not None:
        data["machine"] = meter.stop()
    return data


def _result(measured: Measured, load: Load) -> dict[str, Any]:
    data = measured.as_dict()
    data["errors"] = measured.error_count
    data["connections"] = load.connections
    data["requests_per_unit"] = load.requests_per_unit
    return data


def per_core(data: dict[str, Any]) -> dict[str, Any]:
    data["per_core"] = round(data["units_per_second"] / (os.cpu_count() or 1), 1)
    return data


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One side of a case over its rounds: median rate and latencies, every error, each round."""
    rates = [r["units_per_second"] for r in rounds]
    machine = [r["machine"] for r in rounds if "machine" in r]
    return {
        "units_per_second": round(statistics.median(rates), 1),
        "units_per_second_range": [min(rates), max(rates)],
        "requests_per_second": _median([r["requests_per_second"] for r in rounds]),
        "latency_ms": {key: _median([r["latency_ms"][key] for r in rounds])
                       for key in rounds[0]["latency_ms"]},
        "errors": sum(r["errors"] for r in rounds),
        "ok": sum(r["ok"] for r in rounds),
        "connections": rounds[0]["connections"],
        "requests_per_unit": rounds[0]["requests_per_unit"],
        "busy": any(m["busy"] for m in machine),
        "outside_percent_max": max((m["outside_percent"] for m in machine), default=0.0),
        "rounds": rounds,
    }


def target_for(server: Server, clients: Clients, connections: int) -> Target:
    endpoints = Endpoints.discover(server.base_url)
    return Target(server.name, server.base_url, endpoints, clients,
                  Browser(server, endpoints, clients), connections)


def compare(case: Case, mine: Target, peer: Target, args: argparse.Namespace,
            meter: Meter) -> dict[str, Any]:
    """`args.rounds` interleaved rounds of one case: round 1 campus-idp then the peer, round 2
    the peer first, and so on. Each server's first run follows the full warm-up, later ones a
    short one (`--rewarm`). The case's figures are the medians of the rounds; the ratio is the
    median of the per-round ratios, with their range."""
    sides = {"campus_idp": mine, "peer": peer}
    rounds: dict[str, list[dict[str, Any]]] = {key: [] for key in sides}
    for n in range(args.rounds):
        order = ("campus_idp", "peer") if n % 2 == 0 else ("peer", "campus_idp")
        for key in order:
            target = sides[key]
            warmup = args.warmup if n == 0 else args.rewarm
            result = measure(case.load, target, warmup, args.duration, meter)
            rounds[key].append(result)
            machine = result["machine"]
            log(f"{case.label}, round {n + 1}: {target.name} "
                f"{result['units_per_second']:,.0f} {case.unit}/s, p50 "
                f"{result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms, "
                f"errors {result['errors']}" + (f" ({describe(machine)})" if machine["busy"]
                                                else ""))
    entry: dict[str, Any] = {"case": case.name, "label": case.label, "unit": case.unit}
    for key in sides:
        entry[key] = summarise(rounds[key])
    ratios = [ours["units_per_second"] / theirs["units_per_second"]
              for ours, theirs in zip(rounds["campus_idp"], rounds["peer"], strict=True)
              if theirs["units_per_second"]]
    entry["ratio"] = {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
                      "max": round(max(ratios), 3), "rounds": [round(r, 3) for r in ratios]
                      } if ratios else None
    entry["busy"] = entry["campus_idp"]["busy"] or entry["peer"]["busy"]
    if entry["ratio"]:
        log(f"  {case.label}: median ratio {entry['ratio']['median']:.2f}× "
            f"({entry['ratio']['min']:.2f}–{entry['ratio']['max']:.2f})")
    return entry


def side_by_side(cases: list[Case], ours: Target, ours_es256: Target, peer: Target,
                 args: argparse.Namespace, meter: Meter) -> list[dict[str, Any]]:
    return [compare(case, ours_es256 if case.name == "client_credentials_es256" else ours,
                    peer, args, meter) for case in cases]


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


def replicas(backends: Backends, clients: Clients, args: argparse.Namespace, log_dir: Path,
             meter: Meter | None = None) -> dict[str, Any]:
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
            single = measure(case.load, one, args.warmup, args.duration, meter)
            log(f"replicas, {case.label}: two replicas")
            loads = [case.load(t) for t in two]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda load: run_wrk(load, args.warmup), loads))
                loads = [case.load(t) for t in two]
                if meter is not None:
                    meter.start()
                pair = list(pool.map(lambda load: run_wrk(load, args.duration), loads))
                machine = meter.stop() if meter is not None else None
            total = sum(m.units_per_second for m in pair)
            out[case.name] = {"one": single, "two": [_result(m, load) for m, load
                                                      in zip(pair, loads, strict=True)],
                              "two_machine": machine,
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


def servers(backends: Backends, clients: Clients, args: argparse.Namespace, log_dir: Path,
            meter: Meter | None = None) -> dict[str, Any]:
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
                measured = measure(case.load, target, args.warmup, args.duration, meter)
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
    parser.add_argument("--warmup", type=float, default=8,
                        help="seconds of each server's first warm-up per case (and of the "
                             "campus-idp-only sections)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of a measured run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds per side-by-side case (idp, peer, then peer, "
                             "idp, ...); the table shows their medians and the ratio's range")
    parser.add_argument("--rewarm", type=float, default=2,
                        help="seconds of warm-up before each later round's run")
    parser.add_argument("--require-quiet", action="store_true",
                        help="refuse to report a busy run (bench/quiet.py): no latest.json, "
                             "exit status 3")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--qr-waiting", default="50,1000",
                        help="comma list: PCs whose QR sign-in long polls one worker holds at "
                             "once, one measurement each")
    parser.add_argument("--scale-count", type=int, default=200)
    parser.add_argument("--cases", default=",".join(c.name for c in CASES))
    parser.add_argument("--idp-root", type=Path, default=None,
                        help="run campus-idp from this checkout (a copy with a change)")
    parser.add_argument("--skip", default="",
                        help="comma list of: login, ceiling, cas, device, qr, servers, replicas, "
                             "scale, audit, purge")
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
    log("idle check: 3 s of the machine before the bench starts anything")
    before = idle_check()
    log(f"  {before['busy_percent']}% busy, {before['steal_percent']}% steal, load average "
        f"{before['load_average']}" + (" (BUSY)" if before["busy"] else ""))
    keys_dir = Path(tempfile.mkdtemp(prefix="idp-bench-keys-"))
    meter = Meter()
    with ExitStack() as stack:
        log(f"slapd: loading {args.people:,} generated people with slapadd")
        slapd, loaded = start_directory(args.people)
        stack.callback(slapd.stop)
        results["slapadd_seconds"] = round(loaded, 1)
        database_url = asyncio.run(create_postgres_database())
        stack.callback(lambda: asyncio.run(drop_postgres_database(database_url)))
        meter.databases = (database_url.rpartition("/")[2],)
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

        results["cases"] = side_by_side(cases, mine, mine_es, theirs, args, meter)
        ours_es.stop()
        if "login" not in skip:
            log("password logins through the login form (campus-idp)")
            login = per_core(measure(lambda t: login_load(t, args.people), mine, args.warmup,
                                     args.duration, meter))
            results["logins"] = login
            log(f"  {login['units_per_second']:,.0f} logins/s ({login['per_core']}/core), "
                f"errors {login['errors']}")
        if "ceiling" not in skip:
            log("slapd's ceiling: a login's LDAP work (search, bind, groups), no HTTP")
            ceiling = ldap_ceiling.measure(slapd, args.people, args.workers, args.connections,
                                           args.warmup, args.duration, meter)
            results["ldap_ceiling"] = ceiling
            log(f"  {ceiling['units_per_second']:,.0f}/s ({ceiling['per_core']}/core), slapd "
                f"{ceiling['slapd_cpu_us_per_login']} µs CPU per login, errors {ceiling['errors']}")
        if "cas" not in skip:
            log("CAS: service tickets issued and validated (campus-idp)")
            service = register_cas_service(ours)
            cas = per_core(measure(lambda t: cas_load(t, service), mine, args.warmup,
                                   args.duration, meter))
            results["cas"] = cas
            log(f"  {cas['units_per_second']:,.0f} validated tickets/s ({cas['per_core']}/core), "
                f"errors {cas['errors']}")
        if "device" not in skip:
            log("device grant: polls of devices waiting for their person (campus-idp)")
            polling = DevicePolling(mine, register_device_client(ours))
            try:
                device = per_core(counted(measure(polling.load, mine, args.warmup,
                                                  args.duration, meter)))
            finally:
                polling.close()
            device["device_codes"] = polling.count
            results["device_polling"] = device
            log(f"  {device['units_per_second']:,.0f} authorization_pending answers/s "
                f"({device['per_core']}/core), errors {device['errors']}")
        ours.stop()
        peer.stop()
        if "qr" not in skip:
            results["qr"] = []
            for waiting in [int(n) for n in args.qr_waiting.split(",") if n]:
                log(f"QR sign-in: {waiting:,} PCs waiting on one worker, then approvals")
                qr_server = start_idp(backends, f"qr-{waiting}", 1, log_dir)
                try:
                    found = qr.measure(qr_server, clients, waiting, meter=meter)
                finally:
                    qr_server.stop()
                results["qr"].append(found)
                log(f"  {found['held']:,} held, idle worker {found['idle_worker_core_percent']}% "
                    f"of a core, notified p50/p99 {found['latency_ms']['p50']}/"
                    f"{found['latency_ms']['p99']} ms, errors {found['errors']}")
        if "servers" not in skip:
            results["servers"] = servers(backends, clients, args, log_dir, meter)
        if "replicas" not in skip:
            results["replicas"] = replicas(backends, clients, args, log_dir, meter)
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
    results["quiet"] = verdict(before, meter.samples)
    refused = args.require_quiet and results["quiet"]["busy"]
    name = f"{started}{'-idp-root' if args.idp_root else ''}{'-busy' if refused else ''}.json"
    path = report.write(results, name, latest=args.idp_root is None and not refused)
    print()
    print(report.text_table(results))
    print(report.summary(results))
    print(f"\nresults: {path}")
    shutil.rmtree(keys_dir, ignore_errors=True)
    if refused:
        print("\nthe machine was busy (--require-quiet): not reported as the latest run")
        return 3
    purge_failed = not results.get("purge_load", {}).get("ok", True)
    return 1 if report.error_count(results) or purge_failed else 0


if __name__ == "__main__":
    sys.exit(main())
