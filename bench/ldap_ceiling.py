"""slapd's own ceiling for password logins: what one login asks of LDAP, without HTTP.

One accepted password through the login form costs the directory exactly what campus-idp's
LdapDirectory does for it (directory/ldap.py), and this runs that very code:

- the login throttle's `locate`: a search for the typed name with the service account (pooled);
- `authenticate`: the same search, then a simple bind as the person with the ppolicy control on
  a fresh connection (LDAP-PITFALLS 15), unbound at once, then the person's groups (the generated
  people have no memberOf, so a search of the group base for their DN).

As many processes as the server has workers, each with the server's own LDAP settings (pooled
service connections, LDAP threads) and as many logins in flight as its share of the
connections, sign in the same generated people the login case does. What they reach is the
rate slapd (and python-ldap's side of the connections) can give campus-idp's logins on this
machine: the ceiling beside the logins' figure. slapd's CPU per login is read from /proc.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from typing import Any

from bench.quiet import Meter, process_stat
from bench.slapd import BENCH_PASSWORD, BenchSlapd, username
from directory.config import LdapConfig


def _settings(slapd: BenchSlapd) -> LdapConfig:
    from tests.support.slapd import ldap_settings

    defaults = LdapConfig()  # the pool and threads `idp serve` has when nothing is configured
    return ldap_settings(slapd, pool_size=defaults.pool_size, threads=defaults.threads,
                         timeout=defaults.timeout, network_timeout=defaults.network_timeout)


async def _sign_in(config: LdapConfig, first: int, count: int, in_flight: int,
                   window: tuple[float, float]) -> dict[str, Any]:
    from directory.ldap import LdapDirectory

    directory = LdapDirectory(config)
    start, end = window
    done: list[float] = []
    failed = 0

    async def one(lane: int) -> None:
        nonlocal failed
        n = lane
        while time.monotonic() < end:
            name = username(first + n % count)
            n += in_flight
            began = time.monotonic()
            try:
                await directory.locate(name)
                await directory.authenticate(name, BENCH_PASSWORD)
            except Exception:  # noqa: BLE001 - counted, the figure shows it
                if began >= start:
                    failed += 1
                continue
            finished = time.monotonic()
            if start <= began and finished <= end:
                done.append(finished - began)

    try:
        await asyncio.gather(*(one(lane) for lane in range(in_flight)))
    finally:
        await directory.close()
    return {"ok": len(done), "failed": failed, "latencies": done}


def _process(config: LdapConfig, first: int, count: int, in_flight: int,
             ready: Any, go: Any, out: Any) -> None:
    ready.put(os.getpid())
    window = go.get()
    out.put(asyncio.run(_sign_in(config, first, count, in_flight, window)))


def measure(slapd: BenchSlapd, people: int, processes: int, connections: int, warmup: float,
            duration: float, meter: Meter | None = None) -> dict[str, Any]:
    """Logins' LDAP work per second from `processes` processes, `connections` in flight in all."""
    config = _settings(slapd)
    context = multiprocessing.get_context("spawn")
    ready, out = context.Queue(), context.Queue()
    gos = [context.Queue() for _ in range(processes)]
    share = max(people // processes, 1)
    in_flight = max(connections // processes, 1)
    workers = [context.Process(target=_process, args=(config, 1 + i * share, share, in_flight,
                                                      ready, gos[i], out), daemon=True)
               for i in range(processes)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=60)
    start = time.monotonic() + warmup
    end = start + duration
    for go in gos:
        go.put((start, end))
    time.sleep(max(start - time.monotonic(), 0))
    slapd_pid = str(slapd._proc.pid)  # noqa: SLF001 - slapdtest keeps its process there
    slapd_before = (process_stat(slapd_pid) or (0, 0.0))[1]
    if meter is not None:
        meter.start()
    time.sleep(max(end - time.monotonic(), 0))
    machine = meter.stop() if meter is not None else None
    slapd_cpu = (process_stat(slapd_pid) or (0, 0.0))[1] - slapd_before
    found = [out.get(timeout=duration + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    latencies = sorted(t * 1000 for part in found for t in part["latencies"])
    ok = len(latencies)

    def percentile(p: float) -> float:
        return round(latencies[min(int(p * len(latencies)), len(latencies) - 1)], 2) \
            if latencies else 0.0

    data: dict[str, Any] = {
        "units_per_second": round(ok / duration, 1), "ok": ok, "seconds": duration,
        "errors": sum(part["failed"] for part in found), "processes": processes,
        "in_flight": in_flight * processes,
        "latency_ms": {"p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99)},
        "slapd_cpu_us_per_login": round(1e6 * slapd_cpu / ok, 1) if ok else None,
        "per_core": round(ok / duration / (os.cpu_count() or 1), 1),
    }
    if data["slapd_cpu_us_per_login"]:
        data["slapd_logins_per_core_second"] = round(1e6 / data["slapd_cpu_us_per_login"], 1)
    if machine is not None:
        data["machine"] = machine
    return data
