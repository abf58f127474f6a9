"""The Lua scripts run by their SHA-1; a Redis that has lost them (restarted, SCRIPT FLUSH)
gets them loaded again on the next call instead of answering NOSCRIPT."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.support.redis import REDIS_URL, redis_store


async def test_scripted_operations_survive_a_script_flush() -> None:
    raw = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        async with redis_store() as store:
            assert await store.incr("n", ttl=60) == 1
            await raw.script_flush()
            assert await store.incr("n", ttl=60, amount=2) == 3

            await raw.script_flush()
            await store.set_add("s", "a", ttl=60)
            assert await store.set_members("s") == {"a"}
            assert 0 < (await store.ttl("s") or 0) <= 60

            await store.put("code", "value", ttl=60)
            await raw.script_flush()
            assert await store.take_leaving("code", "trace", "t1", ttl=60) == ("value", None)
            assert await store.take_leaving("code", "trace", "t2", ttl=60) == (None, "t1")

            await raw.script_flush()
            assert await store.incr_unless("count", ttl=60, blockers=("blocked",)) == (1, 0)
            await store.put("blocked", "1", ttl=30)
            await raw.script_flush()
            count, left = await store.incr_unless("count", ttl=60, blockers=("blocked",))
            assert count == 0 and 0 < left <= 30
    finally:
        await raw.aclose()
