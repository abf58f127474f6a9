"""The test helper itself: its keys live under their own prefix and are gone afterwards."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.support.redis import REDIS_URL, redis_store, unique_prefix


async def test_redis_store_helper_isolates_and_cleans_up() -> None:
    raw = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = unique_prefix()
    assert prefix.startswith("test-") and prefix != unique_prefix()
    try:
        async with redis_store(prefix=prefix) as first, redis_store() as second:
            await first.put("shared-name", "one", ttl=60)
            await first.set_add("a-set", "m", ttl=60)
            await second.put("shared-name", "two", ttl=60)
            assert await first.get("shared-name") == "one"
            assert await second.get("shared-name") == "two"
            stored = sorted(await raw.keys(prefix + "*"))
            assert stored == [prefix + "a-set", prefix + "shared-name"]
        assert await raw.keys(prefix + "*") == []
    finally:
        await raw.aclose()
