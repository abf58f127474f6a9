"""The Store protocol: a small TTL key-value API that Redis and a dict can both honour.

One-time items (codes, reset links) are taken with `take`, which is atomic (Redis GETDEL), so two
concurrent redemptions of one code can never both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class StoreUnavailable(Exception):
    """The store cannot be reached: a 503 for the caller, never a silent miss."""


class LogGap(Exception):
    """`read_log` was asked for changes after a position the change log no longer holds (it was
    trimmed, or the Store lost it): what happened in between is unknown, so whoever follows the
    log must read the keys afresh (`snapshot`)."""


# one entry of the change log: (key, value, ttl) as it was put
LogEntry = tuple[str, str, int]


@runtime_checkable
class Store(Protocol):
    name: str
    shared: bool  # True when several processes can share it (Redis)

    async def get(self, key: str) -> str | None: ...

    async def get_many(self, *keys: str) -> list[str | None]:
        """The value of each key, in order (None where absent), in one round trip: a hot path
        that must look at two keys pays for one (Redis MGET)."""
        ...

    async def put(self, key: str, value: str, ttl: int) -> None: ...

    async def write_many(self, puts: Sequence[tuple[str, str, int]],
                         members: Sequence[tuple[str, str, int]] = ()) -> None:
        """Several writes in one round trip: each (key, value, ttl) of `puts` as `put` does,
        then each (set key, member, ttl) of `members` as `set_add` does. A hot path that writes
        an item and a link beside it (an authorization code and its session's app) pays for
        one."""
        ...

    async def add(self, key: str, value: str, ttl: int) -> bool:
        """Set only if absent; True when this call created it (replay guards)."""
        ...

    async def take(self, key: str) -> str | None:
        """Get and delete in one atomic step."""
        ...

    async def take_leaving(self, key: str, trace_key: str, trace: str,
                           ttl: int) -> tuple[str | None, str | None]:
        """Take `key` and, in the same atomic step, leave `trace` under `trace_key` for `ttl`
        seconds: (value, None). When `key` is not there, nothing is written and the answer is
        (None, what `trace_key` holds): a one-time item redeemed twice meets the trace of its
        first redemption (authorization codes, RFC 6749 §4.1.2)."""
        ...

    async def delete(self, *keys: str) -> int: ...

    async def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        """Add `amount` to a counter and return it; the TTL starts when it is created. A
        negative amount takes counts back (the login throttle's refund) without moving it."""
        ...

    async def incr_unless(self, key: str, ttl: int, blockers: tuple[str, ...],
                          first: tuple[str, str, int] | None = None) -> tuple[int, int]:
        """One atomic step: when one of `blockers` exists, count nothing and answer (0, its
        seconds left, at least 1). Otherwise add 1 to the counter `key` (its TTL starts when it
        is created) and answer (the count, 0); when that count is 1, also put `first` (key,
        value, ttl) beside it. The login throttle's check in one round trip."""
        ...

    async def ttl(self, key: str) -> int | None:
        """Seconds left, or None when the key does not exist."""
        ...

    async def set_add(self, key: str, member: str, ttl: int) -> None:
        """Add to a set and (re)start its TTL."""
        ...

    async def set_remove(self, key: str, member: str) -> None: ...

    async def set_members(self, key: str) -> set[str]: ...

    async def signal(self, key: str, ttl: int) -> None:
        """Wake one `wait` on `key`: the one waiting now, or else the next to come within `ttl`
        seconds (a signal sent between a waiter's look at the state and its wait is not lost).
        Signals queue up: each wakes one wait."""
        ...

    async def wait(self, key: str, seconds: float) -> bool:
        """Until a `signal` on `key` (True, that signal used up) or `seconds` pass (False).
        On Redis a signal sent by any process wakes a wait in any other (a list item, and a
        pub/sub message heard by one listener per process): long polls that a replica answers
        when another replica saw the event, without a connection held per wait."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """Every live key that starts with prefix (admin listings; not for hot paths)."""
        ...

    # --- the change log: keys whose every change each process follows (idp/sso/revoked.py) ---

    async def put_logged(self, key: str, value: str, ttl: int) -> None:
        """`put`, and, in the same atomic step, an entry (key, value, ttl) appended to the
        Store's change log, which every process can follow with `read_log`."""
        ...

    async def log_position(self) -> str:
        """Where the change log ends now: `read_log` from here returns what comes later."""
        ...

    async def read_log(self, after: str, wait: float) -> tuple[list[LogEntry], str]:
        """The entries appended after position `after`, oldest first, and the new position;
        waits up to `wait` seconds for one when there is none yet (then ([], after)). Raises
        LogGap when entries after `after` may have been dropped."""
        ...

    async def snapshot(self, prefix: str) -> dict[str, tuple[str, int]]:
        """Every live key that starts with `prefix`: its value and its seconds left (a process
        that follows the change log starts from here). Not for hot paths."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
