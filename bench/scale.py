"""Issue 4 part 3: does campus-idp stay flat from 100 to 100,000 people?

For each directory size it measures, one request at a time (latency, not throughput):
- password logins through the login form of a running `idp serve` (the POST alone is timed);
- `idp users show` as an operator runs it (wall time of the command) and the lookup behind it
  (LdapDirectory.find, in process);
- the admin people search (LdapAdminWriter.search): page 1 of everyone, a deep page, a query.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench import stack
from bench.setup import Clients, Endpoints, authorize_query
from bench.slapd import BENCH_PASSWORD, BenchSlapd, username
from bench.stack import Server
from directory.ldap import LdapDirectory
from directory.ldap_admin import LdapAdminWriter
from tests.support.slapd import ldap_settings


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "mean": round(statistics.fmean(ordered), 2)}


def login_latency(server: Server, clients: Clients, people: int, count: int) -> dict[str, float]:
    """`count` sign-ins of different people, one after another; only the password POST is
    timed (GET /authorize and the form page are the same work at any directory size)."""
    endpoints = Endpoints.discover(server.base_url)
    query = authorize_query(clients, "openid profile")
    samples: list[float] = []
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for n in range(count):
            http.cookies.clear()
            first = http.get(f"{endpoints.authorization}?{query}")
            login = first.headers["location"]
            page = http.get(login)
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            if token is None:
                raise RuntimeError(f"no login form at {login}")
            person = username(1 + (n * 7919) % people)  # spread over the whole directory
            started = time.perf_counter()
            done = http.post(login, data={"csrf": token.group(1), "username": person,
                                          "password": BENCH_PASSWORD})
            samples.append((time.perf_counter() - started) * 1000)
            if done.status_code != 303 or "/authorize/resume/" not in done.headers["location"]:
                raise RuntimeError(f"login of {person} failed: {done.status_code}")
    return _summary(samples)


def users_show_wall(server: Server, people: int, count: int) -> dict[str, float]:
    samples = []
    for n in range(count):
        started = time.perf_counter()
        subprocess.run([*stack.IDP_COMMAND, "users", "show",  # noqa: S603
                        username(1 + (n * 7919) % people), "--json"], env=server.env,
                       capture_output=True, check=True, timeout=60, cwd=stack.IDP_ROOT)
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


async def _timed(call: Callable[[], Awaitable[Any]], count: int) -> dict[str, float]:
    await call()  # connections open, pools warm
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


async def directory_latency(slapd: BenchSlapd, people: int, count: int) -> dict[str, Any]:
    directory = LdapDirectory(ldap_settings(slapd, pool_size=2, threads=4, timeout=10.0))
    admin = LdapAdminWriter(directory)
    counter = iter(range(10**9))
    try:
        return {
            "find": await _timed(lambda: directory.find(username(1 + next(counter) * 7919 % people)),
                                 count),
            "authenticate": await _timed(lambda: directory.authenticate(
                username(1 + next(counter) * 7919 % people), BENCH_PASSWORD), count),
            "admin_search_first_page": await _timed(lambda: admin.search("", 0, 50), 20),
            "admin_search_page_20": await _timed(lambda: admin.search("", 950, 50), 20),
            "admin_search_query": await _timed(lambda: admin.search("student 4242", 0, 50), 20),
        }
    finally:
        await admin.close()
        await directory.close()


def measure(label: str, server: Server, slapd: BenchSlapd, clients: Clients, people: int,
            count: int) -> dict[str, Any]:
    return {
        "people": people,
        "login_post_ms": login_latency(server, clients, people, count),
        "users_show_command_ms": users_show_wall(server, people, 5),
        **{f"{key}_ms": value for key, value in
           asyncio.run(directory_latency(slapd, people, count)).items()},
        "label": label,
    }
