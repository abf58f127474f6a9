"""Device sign-in (RFC 8628) under polling: what waiting TVs cost.

A classroom display or a command-line tool that shows a code polls the token endpoint every
`interval` seconds (IDP_DEVICE_INTERVAL, 5 by default) until the person confirms, and hears
`authorization_pending` meanwhile. Each poll reads the authorization from the Store and sets the
pace guard (idp/protocols/oidc/device_codes.py), so N waiting devices cost N / interval polls per
second. This issues `codes` device codes through /device_authorization (a public client, as a TV
is), then drives the token endpoint with wrk (bench/lua/devicepoll.lua): each connection polls
its own slice of the codes in turn, never one code twice within a second, and only
`authorization_pending` answers count. The bench's servers run with IDP_DEVICE_INTERVAL=2 (the
pace guard then lasts 1 s), so that a few thousand codes suffice; a poll costs the same at any
interval.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.cases import Target
from bench.stack import Server
from bench.wrk import Load
from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT

INTERVAL = "2"  # IDP_DEVICE_INTERVAL of the bench's servers (bench/stack.py)
# a connection's round through its codes must last longer than the 1 s pace guard, or its
# codes hear slow_down: 1,000 a connection allows up to 1,000 polls/s per connection (a worker
# answered ~300/s per connection in 2026-12; 400 codes were too few once it did)
CODES_PER_CONNECTION = 1000


def register_device_client(server: Server) -> str:
    """A public device client (a TV): its client_id."""
    made = server.idp("clients", "add", "--name", "bench TV", "--public", "--grant-type",
                      DEVICE_CODE_GRANT, "--scope", "openid", "--scope", "profile", "--json")
    return str(made["client_id"])


def issue_codes(base_url: str, client_id: str, count: int, concurrency: int = 16) -> list[str]:
    """`count` device codes from /device_authorization, `concurrency` requests at a time."""

    async def lane(http: httpx.AsyncClient, n: int) -> list[str]:
        found = []
        for _ in range(n):
            answer = await http.post("/device_authorization",
                                     data={"client_id": client_id, "scope": "openid profile"})
            if answer.status_code != 200:
                raise RuntimeError(f"device_authorization: {answer.status_code} {answer.text}")
            found.append(str(answer.json()["device_code"]))
        return found

    async def main() -> list[str]:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
            shares = [count // concurrency + (1 if i < count % concurrency else 0)
                      for i in range(concurrency)]
            parts = await asyncio.gather(*(lane(http, n) for n in shares))
        return [code for part in parts for code in part]

    return asyncio.run(main())


class DevicePolling:
    """The codes for one server (issued once, polled by every run of the case)."""

    def __init__(self, target: Target, client_id: str) -> None:
        self.client_id = client_id
        self.per_thread = CODES_PER_CONNECTION
        self.count = self.per_thread * target.connections
        codes = issue_codes(target.base_url, client_id, self.count)
        handle, name = tempfile.mkstemp(prefix="idp-bench-device-", suffix=".txt")
        self.codes_file = Path(name)
        with open(handle, "w") as out:
            out.write("\n".join(codes) + "\n")

    def load(self, target: Target) -> Load:
        # made just before its run: first let the pace guards of the run before (1 s) expire,
        # else its last codes would hear slow_down (and poll 5 s slower ever after)
        time.sleep(1.2)
        n = target.connections
        env = {"BENCH_PATH": target.endpoints.token, "BENCH_CLIENT_ID": self.client_id,
               "BENCH_CODES_FILE": str(self.codes_file),
               "BENCH_CODES_PER_THREAD": str(self.per_thread)}
        return Load(target.base_url, "devicepoll.lua", env, threads=n, connections=n)

    def close(self) -> None:
        self.codes_file.unlink(missing_ok=True)


def counted(data: dict[str, Any]) -> dict[str, Any]:
    """Every answer is a 400 by design (wrk counts those as `status` errors): the errors are the
    answers that were not authorization_pending, and wrk's connection errors."""
    data["errors"] = data["bad"] + sum(value for key, value in data["wrk_errors"].items()
                                       if key != "status")
    return data
