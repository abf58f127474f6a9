"""`python -m bench.releases`: what the attribute-release record costs the token path.

The record is written behind the response (idp/db/releases.py): a request only hands the claim
names to `ReleaseLog.record()`, a dict update, and the writer upserts what gathered once a
second. This measures that cost where it lands, A/B in one process, rounds interleaved:

- **on**: the server as it is (record() on every answer, the writer upserting to PostgreSQL);
- **off**: the same server with `record()` replaced by a no-op.

First the two parts on their own: one `record()` call, and the writer's CPU per row when no
answer folds into another (every answer a new person: the worst case). Then per case, the CPU
time (this process: the app, its writer, the ASGI calls; PostgreSQL's and
Redis's own CPU are not in it, and the writer's upsert is one statement a second) per request,
median of the rounds, and the ratio on / off. The requests go straight into the ASGI app (no
sockets, no HTTP client), so the app's own work is nearly all that is counted, and the ratio is
not diluted by a client's. The cases are the paths the record is on: userinfo and introspection
(the cheapest units, so the largest share), and the refresh_token grant with `openid` (a new ID
token each time). A CAS validation adds the same call.

    LDAPNOINIT=1 .venv/bin/python -m bench.releases --requests 2000 --rounds 5

Backends: a fresh PostgreSQL database and Redis (as the tests use them), the local directory
seeded with the demo people (the record does not touch the directory).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

from directory.demo_people import seed_local
from idp.app import close_services, create_app, open_services
from idp.protocols.oidc import ledger
from idp.protocols.oidc.clients import create_client
from idp.protocols.oidc.models import RefreshRecord
from idp.protocols.oidc.tokens import token_digest, userinfo_audience
from idp.settings import load_settings
from tests.support.databases import create_postgres_database, drop_postgres_database

ISSUER = "http://127.0.0.1:8000"
CASE_NAMES = ("userinfo", "introspection", "refresh_token")
SCOPE = "openid profile email phone campus offline_access"


class Asgi:
    """Requests straight into the ASGI app: the status and body of each answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, method: str, path: str, headers: dict[str, str],
                       body: bytes = b"") -> tuple[int, bytes]:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
                 "server": ("127.0.0.1", 8000),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
        sent = False
        status, chunks = 0, []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def _form(data: dict[str, str]) -> bytes:
    return urlencode(data).encode()


async def _setup(services: Any) -> dict[str, Any]:
    await seed_local(services.directory)
    person = await services.directory.find("student")
    client, secret = await create_client(services.db, name="Bench hall", skip_consent=True,
                                         redirect_uris=["https://rp.example.edu/cb"],
                                         scopes=SCOPE.split())
    basic = "Basic " + base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    now = int(time.time())
    access = services.keys.sign({
        "iss": ISSUER, "sub": person.subject, "aud": userinfo_audience(ISSUER),
        "client_id": client.client_id, "iat": now, "exp": now + 3600,
        "jti": uuid4().hex, "scope": SCOPE, "auth_time": now}, alg="RS256", typ="at+jwt")
    refresh = "bench-" + uuid4().hex
    await ledger.store_refresh(services, RefreshRecord(
        digest=token_digest(refresh), family_id=uuid4().hex, client_id=client.client_id,
        subject=person.subject, scope=SCOPE, sid=None, auth_time=now, acr=None, amr=["pwd"],
        nonce=None, expires_at=datetime.now(UTC) + timedelta(days=1)), None)
    return {"basic": basic, "access": access, "refresh": refresh}


def _cases(call: Asgi, facts: dict[str, Any]) -> dict[str, Callable[[], Awaitable[None]]]:
    form = {"content-type": "application/x-www-form-urlencoded"}

    async def userinfo() -> None:
        status, _ = await call("GET", "/userinfo", {"authorization": f"Bearer {facts['access']}"})
        assert status == 200, status

    async def introspection() -> None:
        status, body = await call("POST", "/introspect", {**form, "authorization": facts["basic"]},
                                  _form({"token": facts["access"]}))
        assert status == 200 and b'"active":true' in body, body

    async def refresh() -> None:
        status, body = await call("POST", "/token", {**form, "authorization": facts["basic"]},
                                  _form({"grant_type": "refresh_token",
                                         "refresh_token": facts["refresh"]}))
        assert status == 200, body
        answer = json.loads(body)
        assert "id_token" in answer
        facts["refresh"] = answer["refresh_token"]

    return {"userinfo": userinfo, "introspection": introspection, "refresh_token": refresh}


async def _cpu_per_request(work: Callable[[], Awaitable[None]], requests: int) -> float:
    gc.collect()  # each run starts with no garbage of the one before to collect
    started = time.process_time()
    for _ in range(requests):
        await work()
    return (time.process_time() - started) / requests * 1e6


async def _record_and_row(services: Any, count: int = 5000) -> tuple[float, float]:
    """CPU µs of one record() call, and of writing one row when no answer folds into another
    (each a new person: the worst case, where every answer costs a row of the upsert)."""
    releases = services.releases
    claims = ("email", "name", "preferred_username", "sub")
    started = time.process_time()
    for n in range(count):
        releases.record(f"bench-{n}", "bench-app", claims)
    per_call = (time.process_time() - started) / count * 1e6
    started = time.process_time()
    await releases.flush()
    per_row = (time.process_time() - started) / count * 1e6
    return per_call, per_row


async def measure(requests: int, rounds: int, cases: list[str],
                  control: bool = False) -> list[tuple[str, float, float]]:
    database_url = await create_postgres_database()
    keys = Path(tempfile.mkdtemp(prefix="bench-releases-"))
    settings = load_settings(
        issuer=ISSUER, database_url=database_url, redis_url="redis://127.0.0.1:6379/0",
        redis_prefix=f"bench-{uuid4().hex[:8]}:", directory="local", keys_dir=keys,
        log_level="error", throttle={"token_requests": 1_000_000_000,
                                     "introspect_requests": 1_000_000_000})
    services = await open_services(settings)
    try:
        call = Asgi(create_app(settings, services))
        runs = _cases(call, await _setup(services))
        recording = services.releases.record

        def off(*_args: Any, **_kwargs: Any) -> None:
            return None

        results = []
        per_call, per_row = await _record_and_row(services)
        results.append(("record() per answer", per_call, 0.0))
        results.append(("writer per row, none folded", per_row, 0.0))
        for name in cases:
            work = runs[name]
            for _ in range(max(20, requests // 10)):  # warm-up: caches, prepared statements
                await work()
            on_runs, off_runs = [], []
            for number in range(rounds):
                # each side goes first in every other round: the first run of a pair is not the
                # second's equal on a busy machine, and the order must not be read as the cost
                for side in (("on", "off") if number % 2 == 0 else ("off", "on")):
                    recorded = side == "on" or control
                    services.releases.record = recording if recorded else off  # type: ignore[method-assign]
                    runs_of = on_runs if side == "on" else off_runs
                    runs_of.append(await _cpu_per_request(work, requests))
            services.releases.record = recording
            results.append((name, statistics.median(on_runs), statistics.median(off_runs)))
        await services.releases.flush()
        return results
    finally:
        for key in await services.store.keys(""):  # this run's Redis prefix only
            await services.store.delete(key)
        await close_services(services)
        await drop_postgres_database(database_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help="userinfo, introspection, refresh_token (default: all three)")
    parser.add_argument("--requests", type=int, default=2000, help="per round and side")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--control", action="store_true",
                        help="A/A: record on both sides, to see the spread of the measurement")
    args = parser.parse_args(argv)
    unknown = set(args.cases) - set(CASE_NAMES)
    if unknown:
        parser.error(f"unknown case(s) {', '.join(sorted(unknown))}; known: {', '.join(CASE_NAMES)}")
    args.cases = args.cases or list(CASE_NAMES)
    results = asyncio.run(measure(args.requests, args.rounds, args.cases, args.control))
    print("| case | CPU µs per request, record on | off | on / off |")
    print("|---|---|---|---|")
    for name, on, off in results:
        if off:
            print(f"| {name} | {on:,.1f} | {off:,.1f} | {on / off:.3f} |")
        else:
            print(f"| {name} | {on:,.1f} | – | – |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
