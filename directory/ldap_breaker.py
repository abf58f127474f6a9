"""A circuit breaker per LDAP server, so that a server that fails slowly costs one request, not
every login.

`Connector.open` tries the configured URIs in order. A first server that accepts connections and
never answers would otherwise make every connection wait out the operation timeout before the
next server is tried: 5 s added to every login. So each URI remembers how it last failed:

- closed (it works, or never failed): tried in its place;
- open (it failed): passed over for `cooldown` seconds while the other servers answer;
- half-open (the cooldown is over): exactly one caller tries it again, in its place among the
  URIs; the others keep passing it over until that probe ends. Success closes it; failure opens
  it for another cooldown.

What a failure cost decides what happens when no closed server is left. A server that refused at
once (its process is down, the port closed) costs nothing to try again, so it is still tried
after the others: when it comes back, the very next request finds it, with no cooldown to wait
out. A server that failed slowly (connect or operation timeout) is not tried again before its
probe is due: with every server down that way, callers fail at once (DirectoryUnavailable)
instead of each waiting out the timeouts, and the IdP's degraded mode answers in milliseconds.

Connections are opened from the directory's thread pool, so the state sits behind a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Server:
    failures: int = 0  # in a row
    retry_at: float = 0.0  # monotonic; while failures > 0, the next probe is due then
    slow: bool = False  # the last failure took long (a timeout), not a refusal
    probing: bool = False  # a half-open probe is in flight


@dataclass(slots=True)
class Plan:
    """The URIs one caller may try, in order, and the probe it reserved (if any)."""

    urls: list[str]
    probe: str | None = None
    settled: set[str] = field(default_factory=set)


class Breakers:
    """Circuit breakers for `urls`; see the module docstring."""

    def __init__(self, urls: list[str], cooldown: float, slow_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        # a failure that took at least this long was a timeout, not a refusal
        self.slow_after = slow_after
        self._clock = clock
        self._lock = threading.Lock()
        self._servers = {url: _Server() for url in urls}

    def plan(self) -> Plan:
        """Which URIs to try, in the configured order: the closed ones, plus the one half-open
        probe this caller won; then, as a last resort, open ones that failed fast."""
        now = self._clock()
        chosen: list[str] = []
        last_resort: list[str] = []
        probe = None
        with self._lock:
            for url, server in self._servers.items():
                if server.failures == 0 or self.cooldown <= 0:
                    chosen.append(url)
                elif probe is None and not server.probing and now >= server.retry_at:
                    server.probing = True
                    probe = url
                    chosen.append(url)
                elif not server.slow:
                    last_resort.append(url)
        return Plan(chosen + last_resort, probe)

    def succeeded(self, plan: Plan, url: str) -> None:
        with self._lock:
            server = self._servers.get(url)
            if server is not None:
                server.failures, server.slow, server.retry_at = 0, False, 0.0
                self._settle(plan, url, server)

    def failed(self, plan: Plan | None, url: str, seconds: float) -> None:
        """`url` failed after `seconds`: open (or keep open) its breaker for a cooldown."""
        with self._lock:
            server = self._servers.get(url)
            if server is None:
                return
            server.failures += 1
            server.slow = seconds >= self.slow_after
            server.retry_at = self._clock() + self.cooldown
            if plan is not None:
                self._settle(plan, url, server)

    def release(self, plan: Plan) -> None:
        """The caller is done: a probe it reserved but never tried (a server before it in the
        order answered) is free for the next caller."""
        if plan.probe is None or plan.probe in plan.settled:
            return
        with self._lock:
            server = self._servers.get(plan.probe)
            if server is not None:
                server.probing = False

    @staticmethod
    def _settle(plan: Plan, url: str, server: _Server) -> None:
        if plan.probe == url:
            server.probing = False
            plan.settled.add(url)

    def state(self) -> dict[str, str]:
        """url -> "closed", "open" or "half-open" (a probe in flight), for logs and tests."""
        with self._lock:
            return {url: "closed" if s.failures == 0 else "half-open" if s.probing else "open"
                    for url, s in self._servers.items()}

    def next_probe_in(self) -> float:
        """Seconds until the next open server may be probed (0 when one may be now)."""
        now = self._clock()
        with self._lock:
            due = [s.retry_at for s in self._servers.values() if s.failures and not s.probing]
        return max(0.0, min(due) - now) if due else 0.0
