"""What every fuzzed request must leave behind: no server error, and no durable record changed
by a request that was refused."""

from __future__ import annotations

import base64
from typing import Any

from tests.fuzz.server import FuzzServer

# hypothesis settings shared by the fuzzers: bounded and repeatable
BUDGET: dict[str, Any] = {"max_examples": 50, "derandomize": True, "deadline": None,
                          "database": None}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def check(server: FuzzServer, before: dict[str, list[tuple[Any, ...]]], what: str, status: int,
          body: str) -> None:
    assert status < 500, f"{what}: {status} {body[:300]}"
    if status >= 400:
        after = server.snapshot()
        changed = [table for table in before if before[table] != after[table]]
        assert not changed, f"{what}: refused with {status} but changed {changed}"
