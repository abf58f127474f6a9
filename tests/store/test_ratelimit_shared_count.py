"""The per-client rate limit's shared count (idp/server/ratelimit.py), on every Store backend: each
process sends its requests to the Store in batches, yet a limit holds across processes to
within one batch per process, small limits are exact, and every refusal follows a fresh count."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from idp.server.ratelimit import SYNC_SHARE, ClientRateLimit
from idp.settings import load_settings
from idp.store import Store


def limiter(token_requests: int) -> ClientRateLimit:
    return ClientRateLimit(load_settings(throttle={"token_requests": token_requests,
                                                   "rate_window": 60}))


async def allowed(limit: ClientRateLimit, services: SimpleNamespace, client: str, n: int) -> int:
    answers = [await limit._count(services, "token", client) for _ in range(n)]
    return sum(answer is None for answer in answers)


async def test_a_small_limit_is_exact(store: Store) -> None:
    services = SimpleNamespace(store=store)
    one, two = limiter(7), limiter(7)  # two processes sharing one Store
    assert await allowed(one, services, "app-a", 4) == 4
    assert await allowed(two, services, "app-a", 4) == 3
    assert await allowed(one, services, "app-a", 1) == 0
    assert await allowed(one, services, "app-b", 7) == 7  # another client: its own count


class CountingStore:
    """The real Store, counting the increments sent to it."""

    def __init__(self, store: Store) -> None:
        self.store, self.increments = store, 0

    async def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        self.increments += 1
        return await self.store.incr(key, ttl, amount)

    async def ttl(self, key: str) -> int | None:
        return await self.store.ttl(key)


async def test_a_large_limit_is_sent_in_batches_and_holds_across_processes(store: Store) -> None:
    counting = CountingStore(store)
    services = SimpleNamespace(store=counting)
    limit = 20 * SYNC_SHARE  # batches of 20
    one, two = limiter(limit), limiter(limit)
    assert await allowed(one, services, "app", 400) == 400
    # 400 requests, a handful of increments (batches of 20, plus one at least every 0.25 s)
    assert counting.increments <= 30
    shared = int(await store.get("ratelimit:token:" + _digest("app")) or 0)
    assert 380 <= shared <= 400  # at most one batch held back

    # both processes spend the rest of the budget concurrently
    results = await asyncio.gather(allowed(one, services, "app", 1500),
                                   allowed(two, services, "app", 1500))
    total = 400 + sum(results)
    assert limit - 2 * 20 <= total <= limit + 2 * 20
    # over the limit everywhere: every further request is refused after a fresh count
    assert await allowed(one, services, "app", 5) == 0
    assert await allowed(two, services, "app", 5) == 0


async def test_a_refusal_carries_the_windows_remaining_seconds(store: Store) -> None:
    services = SimpleNamespace(store=store)
    limit = limiter(2)
    assert await allowed(limit, services, "app-r", 2) == 2
    refused = await limit._count(services, "token", "app-r")
    assert refused is not None and refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def _digest(client: str) -> str:
    import hashlib

    return hashlib.sha256(client.encode()).hexdigest()[:32]
