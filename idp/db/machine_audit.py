"""Machine tokens audited per client per minute (IDP_AUDIT_MACHINE_TOKENS=summary).

A data platform that mints 100 client_credentials tokens a second would write 8.6 million audit
rows a day, each saying the same thing: this client got a token for these scopes. No person is
behind them, and what a review asks of them ("which app called, how often, for what") is
answered as well by one row per client per minute: its count, the grants and the scopes asked
for, and the addresses they came from. People's events are never summarised.

Each replica keeps its own tally and writes a minute's rows shortly after the minute ends (so
with three replicas a busy client has up to three rows a minute; summing `count` gives the
tokens). A crash of the process loses the tally of the current minute: the price of not writing
each token, and the reason `each` remains for a campus that must have every one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# distinct client addresses kept per summary row: enough to see where a client calls from,
# bounded so a client behind a changing pool of addresses cannot grow one row without end
MAX_IPS = 20
# seconds after the end of a minute before its rows are written: tokens issued in the last
# instants of the minute (their `at` taken just before it ended) still join their own minute
FLUSH_DELAY = 0.5


@dataclass
class _Minute:
    count: int = 0
    grants: set[str] = field(default_factory=set)
    scopes: set[str] = field(default_factory=set)
    ips: list[str] = field(default_factory=list)


def minute_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class MachineTally:
    """Tokens counted per (minute, client) until their rows are taken for writing."""

    def __init__(self) -> None:
        self._minutes: dict[tuple[datetime, str], _Minute] = {}

    def __len__(self) -> int:
        return len(self._minutes)

    def add(self, at: datetime, client_id: str, grant: str | None, scope: str | None,
            ip: str | None) -> bool:
        """Count one token; True when it opened a new minute (a flush must be planned)."""
        key = (minute_of(at), client_id)
        tally = self._minutes.get(key)
        opened = tally is None
        if tally is None:
            tally = self._minutes[key] = _Minute()
        tally.count += 1
        if grant:
            tally.grants.add(grant)
        if scope:
            tally.scopes.update(scope.split())
        if ip and ip not in tally.ips and len(tally.ips) < MAX_IPS:
            tally.ips.append(ip)
        return opened

    def take(self, before: datetime | None) -> list[dict[str, Any]]:
        """The rows of every minute that started before `before` (all of them for None), taken
        out of the tally: one audit row each, in the shape Audit writes."""
        due = [key for key in self._minutes if before is None or key[0] < before]
        rows = []
        for key in sorted(due):
            minute, client_id = key
            tally = self._minutes.pop(key)
            grants = sorted(tally.grants)
            rows.append({
                "at": minute, "kind": "token", "outcome": "success", "actor": client_id,
                "client_id": client_id, "ip": tally.ips[0] if tally.ips else None,
                "detail": {
                    # `grant` as in a row per token, so what reads those reads these the same
                    "grant": grants[0] if len(grants) == 1 else "mixed",
                    "summary": "minute", "count": tally.count, "grants": grants,
                    "scopes": sorted(tally.scopes), "ips": tally.ips,
                    "until": (minute + timedelta(minutes=1)).isoformat(),
                },
            })
        return rows
