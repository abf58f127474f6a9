"""The embedded store: a dict with expiry, for one process (the demo and single-node installs).

Everything runs on the event loop thread, so each method is atomic by construction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from idp.store.base import LogEntry, LogGap

# entries of the change log kept (as the Redis stream is trimmed)
LOG_LENGTH = 50_000


class MemoryStore:
    name = "memory"
    shared = False

    def __init__(self) -> None:
        self._data: dict[str, tuple[object, float]] = {}
        self._ops = 0
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._log: list[LogEntry] = []  # the change log's last LOG_LENGTH entries
        self._log_end = 0  # entries ever appended: the position after the last
        self._log_grew = asyncio.Event()

    def _live(self, key: str) -> object | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    def _sweep(self) -> None:
        # amortised clean-up so abandoned keys cannot grow the dict without bound
        self._ops += 1
        if self._ops % 1024:
            return
        now = time.monotonic()
        for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
            del self._data[key]

    def _set(self, key: str, value: object, ttl: int) -> None:
        self._sweep()
        self._data[key] = (value, time.monotonic() + ttl)

    async def get(self, key: str) -> str | None:
        value = self._live(key)
        return value if isinstance(value, str) else None

    async def get_many(self, *keys: str) -> list[str | None]:
        return [await self.get(key) for key in keys]

    async def put(self, key: str, value: str, ttl: int) -> None:
        self._set(key, value, ttl)

    async def write_many(self, puts: Sequence[tuple[str, str, int]],
                         members: Sequence[tuple[str, str, int]] = ()) -> None:
        for key, value, ttl in puts:
            self._set(key, value, ttl)
        for key, member, ttl in members:
            await self.set_add(key, member, ttl)

    async def add(self, key: str, value: str, ttl: int) -> bool:
        if self._live(key) is not None:
            return False
        self._set(key, value, ttl)
        return True

    async def take(self, key: str) -> str | None:
        value = self._live(key)
        if value is None:
            return None
        del self._data[key]
        return value if isinstance(value, str) else None

    async def take_leaving(self, key: str, trace_key: str, trace: str,
                           ttl: int) -> tuple[str | None, str | None]:
        value = await self.take(key)
        if value is None:
            return None, await self.get(trace_key)
        self._set(trace_key, trace, ttl)
        return value, None

    async def delete(self, *keys: str) -> int:
        count = 0
        for key in keys:
            if self._live(key) is not None:
                del self._data[key]
                count += 1
        return count

    async def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        value = self._live(key)
        if value is None:
            self._set(key, str(amount), ttl)
            return amount
        count = int(value) + amount  # type: ignore[call-overload]
        self._data[key] = (str(count), self._data[key][1])
        return count

    async def incr_unless(self, key: str, ttl: int, blockers: tuple[str, ...],
                          first: tuple[str, str, int] | None = None) -> tuple[int, int]:
        for blocker in blockers:
            left = await self.ttl(blocker)
            if left is not None:
                return 0, max(left, 1)
        count = await self.incr(key, ttl)
        if count == 1 and first is not None:
            self._set(*first)
        return count, 0

    async def ttl(self, key: str) -> int | None:
        if self._live(key) is None:
            return None
        return max(0, round(self._data[key][1] - time.monotonic()))

    async def set_add(self, key: str, member: str, ttl: int) -> None:
        members = self._live(key)
        if not isinstance(members, set):
            members = set()
        members.add(member)
        self._set(key, members, ttl)

    async def set_remove(self, key: str, member: str) -> None:
        members = self._live(key)
        if isinstance(members, set):
            members.discard(member)
            if not members:
                # as Redis does: an empty set is no key at all (keys() must not list it)
                del self._data[key]

    async def set_members(self, key: str) -> set[str]:
        members = self._live(key)
        return set(members) if isinstance(members, set) else set()

    async def signal(self, key: str, ttl: int) -> None:
        for waiter in self._waiters.get(key, ()):
            if not waiter.done():
                waiter.set_result(None)
                return
        await self.incr(key, ttl)  # nobody waits yet: kept for the next wait

    async def wait(self, key: str, seconds: float) -> bool:
        queued = self._live(key)
        if isinstance(queued, str):
            if int(queued) > 1:
                self._data[key] = (str(int(queued) - 1), self._data[key][1])
            else:
                del self._data[key]
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(key, [])
        waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, max(seconds, 0))
            return True
        except TimeoutError:
            return False
        finally:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[key]

    async def keys(self, prefix: str) -> list[str]:
        matching = [k for k in list(self._data) if k.startswith(prefix)]
        return sorted(k for k in matching if self._live(k) is not None)

    async def put_logged(self, key: str, value: str, ttl: int) -> None:
        self._set(key, value, ttl)
        self._log.append((key, value, ttl))
        self._log_end += 1
        if len(self._log) > LOG_LENGTH:
            del self._log[: len(self._log) - LOG_LENGTH]
        self._log_grew.set()
        self._log_grew = asyncio.Event()

    async def log_position(self) -> str:
        return str(self._log_end)

    async def read_log(self, after: str, wait: float) -> tuple[list[LogEntry], str]:
        position = int(after)
        if position < self._log_end - len(self._log) or position > self._log_end:
            raise LogGap(f"the change log holds {self._log_end - len(self._log)}..{self._log_end}")
        if position == self._log_end:
            try:
                await asyncio.wait_for(self._log_grew.wait(), max(wait, 0))
            except TimeoutError:
                return [], after
        first = len(self._log) - (self._log_end - position)
        return list(self._log[first:]), str(self._log_end)

    async def snapshot(self, prefix: str) -> dict[str, tuple[str, int]]:
        now = time.monotonic()
        found: dict[str, tuple[str, int]] = {}
        for key in await self.keys(prefix):
            value, expires = self._data[key]
            if isinstance(value, str):
                found[key] = (value, max(1, int(expires - now)))
        return found

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
