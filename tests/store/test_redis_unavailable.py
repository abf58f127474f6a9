"""A Redis that cannot be reached is StoreUnavailable (a 503), quickly, never a raw redis error."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from idp.store import StoreUnavailable
from idp.store.redis import RedisStore

DEAD_URL = "redis://127.0.0.1:1/0"  # port 1: nothing listens, the connection is refused
# Sentinel: neither sentinel answers, so there is no primary to ask for
DEAD_SENTINELS = "redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/campus/0?sentinel_password=pw"

OPERATIONS: dict[str, Callable[[RedisStore], Awaitable[object]]] = {
    "get": lambda s: s.get("k"),
    "put": lambda s: s.put("k", "v", ttl=10),
    "add": lambda s: s.add("k", "v", ttl=10),
    "take": lambda s: s.take("k"),
    "delete": lambda s: s.delete("k"),
    "incr": lambda s: s.incr("k", ttl=10),
    "incr_unless": lambda s: s.incr_unless("k", ttl=10, blockers=("b",)),
    "take_leaving": lambda s: s.take_leaving("k", "t", "trace", ttl=10),
    "ttl": lambda s: s.ttl("k"),
    "set_add": lambda s: s.set_add("k", "m", ttl=10),
    "write_many": lambda s: s.write_many([("k", "v", 10), ("j", "w", 10)], [("s", "m", 10)]),
    "set_remove": lambda s: s.set_remove("k", "m"),
    "set_members": lambda s: s.set_members("k"),
    "keys": lambda s: s.keys("k"),
    "ping": lambda s: s.ping(),
    "signal": lambda s: s.signal("k", ttl=10),
    "wait": lambda s: s.wait("k", 1),
}


@pytest.mark.parametrize("url", [DEAD_URL, DEAD_SENTINELS], ids=["redis", "sentinel"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_dead_redis_raises_store_unavailable(operation: str, url: str) -> None:
    store = RedisStore(url, prefix="test-dead:")
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await OPERATIONS[operation](store)
    finally:
        await store.close()
    assert time.monotonic() - started < 3.0
    assert "redis" in str(caught.value)
