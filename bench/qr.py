"""QR sign-in under load: how many waiting PCs one worker holds, and how soon a PC hears of the
phone's approval while M others wait.

The PC's login page long-polls GET /qr/{code}/wait (idp/web/qr_login.py): the request is held
until the code's state changes, up to 25 s, each waiter blocking on a Redis BLPOP (in 2 s
slices, one pooled Redis connection each) so that a change made on any replica wakes it. Here,
against one `idp serve` with one worker:

1. M PCs ask for the bench's web app without a session (GET /authorize → the login page) and
   open the "scan to sign in" tab (GET /login/{id}/qr): M codes, each with its long-poll URL;
2. one signed-in phone (the demo student) opens every code's URL (GET /qr/{code}): each code
   is claimed, "scanned";
3. M long polls are held open (`?seen=scanned`, one connection each, as a PC's page holds one;
   an answer after 25 s without a change is asked again at once), and the worker's and Redis's
   CPU, the worker's memory and Redis's connections are read while they only wait;
4. the phone confirms `approvals` of the codes, `approval_rate` a second (POST /qr/{code},
   action=confirm); for each, the time from sending the confirmation to the PC's poll answering
   "confirmed" is the latency. A PC that never hears (or a poll that fails) is an error.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from bench.quiet import Meter, process_stat
from bench.setup import Browser, Clients, Endpoints, authorize_query
from bench.stack import REDIS_URL, Server

SETUP_CONCURRENCY = 16
NOTIFY_TIMEOUT = 10.0  # seconds a PC may take to hear of its approval before it counts as lost


def _tree(root: int) -> list[int]:
    pids, parents = [], {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = process_stat(entry)
            if found is not None:
                parents[int(entry)] = found[0]
    pids, grew = [root], True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in pids and pid not in pids:
                pids.append(pid)
                grew = True
    return pids


def _cpu(pids: list[int]) -> float:
    return sum((process_stat(str(pid)) or (0, 0.0))[1] for pid in pids)


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def _redis_pid() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().startswith("redis-server"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


async def _pcs(server: Server, clients: Clients, endpoints: Endpoints, count: int
               ) -> tuple[list[str], str]:
    """`count` codes shown on PCs' login pages: their wait paths, and the PCs' cookie (one
    browser shows them all: the cost of a wait does not depend on whose it is)."""
    query = authorize_query(clients, "openid profile")
    waits: list[str] = []
    limits = httpx.Limits(max_connections=SETUP_CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as http:

        async def lane(n: int) -> None:
            for _ in range(n):
                started = await http.get(f"{endpoints.authorization}?{query}")
                location = started.headers.get("location", "")
                if started.status_code not in (302, 303) or not location.startswith("/login/"):
                    raise RuntimeError(f"QR: /authorize answered {started.status_code}")
                tab = await http.get(f"{location}/qr")
                found = re.search(r'data-wait="([^"]+)"', tab.text)
                if tab.status_code != 200 or found is None:
                    raise RuntimeError(f"QR: no code on {location}/qr ({tab.status_code})")
                waits.append(found.group(1))

        # the first request alone, so that every later one carries the same QR cookie
        await lane(1)
        shares = [(count - 1) // SETUP_CONCURRENCY + (1 if i < (count - 1) % SETUP_CONCURRENCY
                                                      else 0) for i in range(SETUP_CONCURRENCY)]
        await asyncio.gather(*(lane(n) for n in shares))
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies.jar)
    return waits, cookie


async def _scan(phone: httpx.AsyncClient, codes: list[str]) -> dict[str, str]:
    """The phone opens every code: claimed; returns each code's confirmation CSRF token."""
    tokens: dict[str, str] = {}

    async def lane(part: list[str]) -> None:
        for code in part:
            page = await phone.get(f"/qr/{code}")
            found = re.search(r'name="csrf" value="([^"]+)"', page.text)
            if page.status_code != 200 or found is None:
                raise RuntimeError(f"QR: the phone could not open /qr/{code} "
                                   f"({page.status_code}): {page.text[:300]}")
            tokens[code] = found.group(1)

    # the first alone, so that every later page shows the CSRF token of the same cookie
    await lane(codes[:1])
    rest = codes[1:]
    await asyncio.gather(*(lane(rest[i::SETUP_CONCURRENCY]) for i in range(SETUP_CONCURRENCY)))
    return tokens


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next((int(line.split(":", 1)[1]) for line in lines
                   if line.lower().startswith("content-length:")), 0)
    return status, await reader.readexactly(length)


async def _hold(base_url: str, path: str, cookie: str, code: str, notified: dict[str, float],
                failed: list[str]) -> None:
    """One PC's page: a long poll held open, asked again after each answer without a change."""
    parts = urlsplit(base_url)
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    except OSError as exc:
        failed.append(f"connect: {exc}")
        return
    request = (f"GET {path}?seen=scanned HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Cookie: {cookie}\r\nAccept: application/json\r\n\r\n").encode()
    try:
        while True:
            writer.write(request)
            await writer.drain()
            status, body = await _read_answer(reader)
            state = json.loads(body).get("state") if status == 200 else None
            if state == "confirmed":
                notified[code] = time.monotonic()
                return
            if state != "scanned":
                failed.append(f"{status} {body[:100]!r}")
                return
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        failed.append(repr(exc))
    finally:
        writer.close()


async def _run(server: Server, clients: Clients, waiting: int, approvals: int,
               approval_rate: float, idle_seconds: float, meter: Meter | None) -> dict[str, Any]:
    endpoints = Endpoints.discover(server.base_url)
    browser = Browser(server, endpoints, clients)
    browser.code("openid profile")  # the phone signs in (its SSO session)
    jar = httpx.Cookies()
    for cookie in browser.http.cookies.jar:
        jar.set(cookie.name, cookie.value)
    browser.close()
    worker = _tree(server.process.pid)
    redis_pids = _redis_pid()
    rss_before = _rss_kib(worker)
    connections = redis.Redis.from_url(REDIS_URL)
    clients_before = int(connections.info("clients")["connected_clients"])

    started = time.monotonic()
    waits, pc_cookie = await _pcs(server, clients, endpoints, waiting)
    codes = [path.split("/")[2] for path in waits]
    limits = httpx.Limits(max_connections=SETUP_CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60, cookies=jar,
                                 limits=limits) as phone:
        tokens = await _scan(phone, codes)
        setup_seconds = time.monotonic() - started

        notified: dict[str, float] = {}
        failed: list[str] = []
        holders = [asyncio.ensure_future(_hold(server.base_url, path, pc_cookie, code, notified,
                                               failed))
                   for path, code in zip(waits, codes, strict=True)]
        await asyncio.sleep(3)  # every poll sent and held
        cpu0, redis0 = _cpu(worker), _cpu(redis_pids)
        await asyncio.sleep(idle_seconds)
        cpu1, redis1 = _cpu(worker), _cpu(redis_pids)
        rss_waiting = _rss_kib(worker)
        clients_waiting = int(connections.info("clients")["connected_clients"])
        held = sum(1 for holder in holders if not holder.done())  # polls still open

        sent: dict[str, float] = {}
        refused: list[str] = []
        if meter is not None:
            meter.start()
        began = time.monotonic()
        for n, code in enumerate(codes[:approvals]):
            await asyncio.sleep(max(began + n / approval_rate - time.monotonic(), 0))
            sent[code] = time.monotonic()
            answer = await phone.post(f"/qr/{code}", data={"csrf": tokens[code],
                                                           "action": "confirm"})
            if answer.status_code != 200:
                refused.append(f"{answer.status_code}")
        # each approved PC's poll ends when it hears (or fails)
        await asyncio.wait(holders[:len(sent)], timeout=NOTIFY_TIMEOUT)
        elapsed = time.monotonic() - began
        machine = meter.stop() if meter is not None else None
        for holder in holders:
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
    connections.close()

    latencies = sorted(1000 * (notified[code] - sent[code]) for code in sent if code in notified)
    lost = len(sent) - len(latencies)

    def percentile(p: float) -> float:
        return round(latencies[min(int(p * len(latencies)), len(latencies) - 1)], 1) \
            if latencies else 0.0

    idle_cpu = (cpu1 - cpu0) / idle_seconds
    data: dict[str, Any] = {
        "waiting": waiting, "workers": 1, "held": held, "setup_seconds": round(setup_seconds, 1),
        "approvals": len(sent), "units_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": {"p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99),
                       "max": round(latencies[-1], 1) if latencies else 0.0,
                       "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0},
        "errors": lost + len(failed) + len(refused),
        "failed_polls": failed[:5], "refused_confirmations": refused[:5],
        "idle_worker_core_percent": round(100 * idle_cpu, 1),
        "idle_redis_core_percent": round(100 * (redis1 - redis0) / idle_seconds, 1),
        "idle_worker_us_per_pc_second": round(1e6 * idle_cpu / max(held, 1), 1),
        "worker_rss_kib_per_pc": round((rss_waiting - rss_before) / max(held, 1), 1),
        "redis_connections_added": clients_waiting - clients_before,
    }
    if machine is not None:
        data["machine"] = machine
    return data


def measure(server: Server, clients: Clients, waiting: int, approvals: int = 100,
            approval_rate: float = 10.0, idle_seconds: float = 5.0,
            meter: Meter | None = None) -> dict[str, Any]:
    return asyncio.run(_run(server, clients, waiting, min(approvals, waiting), approval_rate,
                            idle_seconds, meter))
