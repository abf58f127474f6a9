"""Run Debian's wrk with one of the Lua scripts in bench/lua and read the JSON line its done()
prints. Requests/s are wrk's completed requests over the measured seconds; `units` are what a
case counts (flows or logins for the multi-request cases, otherwise the requests that did what
they should)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA_DIR = Path(__file__).parent / "lua"
MARKER = "BENCH_JSON "


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no summary."""


@dataclass
class Load:
    """One wrk invocation: a script, its environment, and the shape of the load."""

    url: str
    script: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int = 2
    connections: int = 32
    requests_per_unit: int = 1  # HTTP requests that make up one counted unit (flow, login)


@dataclass
class Measured:
    requests: int
    seconds: float
    ok: int
    bad: int
    errors: dict[str, int]
    latency_ms: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def units_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return self.bad + sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "seconds": round(self.seconds, 3),
                "requests_per_second": round(self.rps, 1),
                "units_per_second": round(self.units_per_second, 1), "ok": self.ok,
                "bad": self.bad, "wrk_errors": self.errors, "latency_ms": self.latency_ms}


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk is not installed: apt-get install wrk (Debian's package)")
    return found


def run_wrk(load: Load, seconds: float) -> Measured:
    args = [wrk_binary(), "-t", str(load.threads), "-c", str(load.connections),
            "-d", f"{max(int(seconds), 1)}s", "--timeout", "10s", "-s",
            str(LUA_DIR / load.script), load.url]
    env = {"PATH": "/usr/bin:/bin", "BENCH_LUA_DIR": str(LUA_DIR), **load.env}
    done = subprocess.run(args, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=seconds + 60, check=False)
    line = next((text for text in done.stdout.splitlines() if text.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise WrkError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    data = json.loads(line[len(MARKER):])
    latency = {key: round(value / 1000.0, 2) for key, value in data["latency_us"].items()}
    return Measured(requests=data["requests"], seconds=data["duration_us"] / 1e6, ok=data["ok"],
                    bad=data["bad"], errors=data["errors"], latency_ms=latency)
