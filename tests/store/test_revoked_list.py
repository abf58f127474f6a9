"""The revoked list read in memory (idp/sso/revoked.py): two processes on one Redis (two
RedisStores with one prefix), each following the change log. A revocation made by one is
answered from the other's copy within milliseconds, without a round trip; a copy that cannot be
trusted (not read yet, Redis away, the log lost) is never used: the Store answers, or the check
fails as the Store does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from idp.sso.revoked import RevokedList
from idp.store import StoreUnavailable
from idp.store.base import LogEntry
from idp.store.redis import LOG_KEY, RedisStore
from tests.support.cut import CutProxy
from tests.support.redis import REDIS_URL, redis_store, unique_prefix


class CountedRedisStore(RedisStore):
    """The real Redis store, counting the lookups that reach Redis."""

    lookups = 0

    async def get_many(self, *keys: str) -> list[str | None]:
        self.lookups += 1
        return await super().get_many(*keys)


@asynccontextmanager
async def process(prefix: str, url: str = REDIS_URL, *, stale: float = 5.0
                  ) -> AsyncIterator[tuple[RevokedList, CountedRedisStore]]:
    store = CountedRedisStore(url, prefix=prefix)
    revoked = RevokedList(store, stale=stale)
    assert revoked.start()
    try:
        yield revoked, store
    finally:
        await revoked.close()
        await store.close()


async def until(condition: object, seconds: float = 3.0) -> float:
    """Seconds until `condition()` holds; fails after `seconds`."""
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - began < seconds, "not within the time allowed"
        await asyncio.sleep(0.005)
    return time.monotonic() - began


async def test_a_revocation_reaches_the_other_process_copy_without_a_round_trip() -> None:
    async with redis_store() as shared:
        prefix = shared._prefix
        async with process(prefix) as (a, _), process(prefix) as (b, b_store):
            await until(lambda: a.current() and b.current())
            await a.put("revoked-jti:t1", "1", 60)
            # the revoking process knows at once
            assert await a.get_many("revoked-jti:t1") == ["1"]
            asked = b_store.lookups
            seconds = await until(lambda: b._copy.get("revoked-jti:t1") is not None)
            assert seconds < 1.0
            assert await b.get_many("revoked-jti:t1", "revoked-jti:other") == ["1", None]
            assert b_store.lookups == asked  # answered from the copy
            # a person's mark moves forward only
            await a.put("revoked-subject:p", "1700000100", 60)
            await a.put("revoked-subject:p", "1700000050", 60)
            await until(lambda: b._copy.get("revoked-subject:p") is not None)
            await asyncio.sleep(0.05)
            assert await b.get_many("revoked-subject:p") == ["1700000100"]
            assert await shared.get("revoked-subject:p") == "1700000050"  # the Store: last put


async def test_before_its_first_read_a_process_asks_the_store() -> None:
    async with redis_store() as shared:
        await shared.put_logged("revoked-jti:early", "1", 60)
        store = CountedRedisStore(REDIS_URL, prefix=shared._prefix)
        revoked = RevokedList(store)
        try:
            assert not revoked.current()  # not following: never trusted
            assert await revoked.get_many("revoked-jti:early") == ["1"]
            assert store.lookups == 1
            revoked.start()
            await until(revoked.current)
            # what was listed before it started is in its copy (read afresh at the start)
            assert await revoked.get_many("revoked-jti:early") == ["1"]
            assert store.lookups == 1
        finally:
            await revoked.close()
            await store.close()


async def test_with_redis_away_the_copy_is_not_used_and_catches_up_after() -> None:
    prefix = unique_prefix()
    with CutProxy("127.0.0.1", 6379, name="redis") as proxy:
        async with redis_store(prefix=prefix) as direct, \
                process(prefix, f"redis://127.0.0.1:{proxy.port}/0", stale=1.0) as (b, _):
            await until(b.current)
            proxy.cut()
            await until(lambda: not b.current(), 4.0)
            with pytest.raises(StoreUnavailable):
                await b.get_many("revoked-jti:during")  # as the Store fails: no stale answer
            await direct.put_logged("revoked-jti:during", "1", 60)  # another replica, meanwhile
            proxy.restore()
            await until(b.current, 6.0)
            await until(lambda: b._copy.get("revoked-jti:during") is not None, 3.0)
            assert await b.get_many("revoked-jti:during") == ["1"]


async def test_a_lost_log_is_read_afresh() -> None:
    async with redis_store() as shared:
        async with process(shared._prefix) as (b, _):
            await until(b.current)
            await shared.put_logged("revoked-jti:one", "1", 60)
            await until(lambda: b._copy.get("revoked-jti:one") is not None)
            # Redis lost the log (and keeps the key written without it): the follower notices
            # the gap and reads every key again
            await shared._redis.delete(shared._k(LOG_KEY))
            await shared.put("revoked-jti:unlogged", "1", 60)
            await shared.put_logged("revoked-jti:two", "1", 60)
            await until(lambda: b._copy.get("revoked-jti:unlogged") is not None, 5.0)
            assert await b.get_many("revoked-jti:one", "revoked-jti:two",
                                    "revoked-jti:unlogged") == ["1", "1", "1"]


async def test_only_keys_of_the_list_are_put() -> None:
    async with redis_store() as shared:
        with pytest.raises(ValueError):
            await RevokedList(shared).put("sso:someone", "1", 60)


class CancelTurnedToError(RedisStore):
    """The real Redis store, whose log read reports its cancellation as the connection error
    redis-py may raise when it drops a connection mid-read."""

    async def read_log(self, after: str, wait: float) -> tuple[list[LogEntry], str]:
        try:
            return await super().read_log(after, wait)
        except asyncio.CancelledError:
            raise StoreUnavailable("redis: connection closed while reading") from None


async def test_a_follower_whose_cancellation_became_an_error_still_stops() -> None:
    async with redis_store() as shared:
        store = CancelTurnedToError(REDIS_URL, prefix=shared._prefix)
        revoked = RevokedList(store)
        revoked.start()
        try:
            await until(revoked.current)
            follower = revoked._follower
            assert follower is not None
            # it carries on after a Store error (one RETRY later), sees it was stopped, ends
            await asyncio.wait_for(revoked.close(), 3.0)
            assert follower.done()
            assert not revoked.current()
        finally:
            await store.close()
