"""The Store's change log (put_logged, log_position, read_log, snapshot), on every backend: what
a process follows to keep its copy of the revoked list (idp/sso/revoked.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from idp.store import Store
from idp.store.base import LogGap
from idp.store.memory import LOG_LENGTH, MemoryStore
from idp.store.redis import LOG_KEY, RedisStore
from tests.support.redis import redis_store


async def test_a_logged_put_is_a_put_and_an_entry_of_the_log(store: Store) -> None:
    start = await store.log_position()
    await store.put_logged("revoked-jti:a", "1", 60)
    await store.put_logged("revoked-subject:p", "1700000000", 30)
    assert await store.get("revoked-jti:a") == "1"
    assert 55 <= (await store.ttl("revoked-jti:a") or 0) <= 60
    entries, position = await store.read_log(start, 1)
    assert entries == [("revoked-jti:a", "1", 60), ("revoked-subject:p", "1700000000", 30)]
    assert position == await store.log_position() != start
    # nothing new: the read waits, then answers nothing and keeps the position
    began = time.monotonic()
    assert await store.read_log(position, 0.3) == ([], position)
    assert time.monotonic() - began >= 0.25


async def test_a_waiting_read_wakes_at_the_entry(store: Store) -> None:
    position = await store.log_position()
    reading = asyncio.create_task(store.read_log(position, 1.5))
    await asyncio.sleep(0.1)
    began = time.monotonic()
    await store.put_logged("revoked-jti:w", "1", 60)
    entries, _ = await asyncio.wait_for(reading, 3)
    assert entries == [("revoked-jti:w", "1", 60)]
    assert time.monotonic() - began < 1.0


async def test_a_snapshot_has_the_live_keys_of_a_prefix(store: Store) -> None:
    await store.put_logged("revoked-jti:x", "1", 60)
    await store.put("revoked-jti:y", "1", 20)  # written without the log: still a key
    await store.put("other:z", "1", 60)
    found = await store.snapshot("revoked-jti:")
    assert set(found) == {"revoked-jti:x", "revoked-jti:y"}
    assert found["revoked-jti:x"][0] == "1" and 55 <= found["revoked-jti:x"][1] <= 60
    assert 15 <= found["revoked-jti:y"][1] <= 20
    assert await store.snapshot("nothing-here:") == {}


async def test_memory_a_position_the_log_no_longer_holds_is_a_gap() -> None:
    store = MemoryStore()
    start = await store.log_position()
    for index in range(LOG_LENGTH + 5):
        await store.put_logged(f"revoked-jti:{index}", "1", 60)
    with pytest.raises(LogGap):
        await store.read_log(start, 0)
    entries, _ = await store.read_log(str(int(await store.log_position()) - 2), 0)
    assert [key for key, _, _ in entries] == [f"revoked-jti:{LOG_LENGTH + 3}",
                                              f"revoked-jti:{LOG_LENGTH + 4}"]


async def test_redis_a_trimmed_or_lost_log_is_a_gap() -> None:
    async with redis_store() as store:
        await _trimmed_or_lost(store)


async def _trimmed_or_lost(store: RedisStore) -> None:
    start = await store.log_position()
    for index in range(5):
        await store.put_logged(f"revoked-jti:{index}", "1", 60)
    first, position = await store.read_log(start, 0.1)
    assert len(first) == 5
    raw = store._redis  # the stream as Redis keeps it: trimmed past what a follower has read
    await raw.xtrim(store._k(LOG_KEY), maxlen=1, approximate=False)
    with pytest.raises(LogGap):
        await store.read_log(start, 0.1)
    assert await store.read_log(position, 0.1) == ([], position)  # nothing it had not read
    await raw.delete(store._k(LOG_KEY))  # a Redis that restarted empty
    with pytest.raises(LogGap):
        await store.read_log(position, 0.1)
