"""Waits on Redis hold no connection each: one listener per RedisStore (a pub/sub subscription)
wakes them all, and they take their signals a few at a time on pooled connections. Hundreds of
waiting long polls on one process leave its other commands working, across replicas (two
RedisStores on one prefix), alone or behind Sentinel, and through an outage of Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from idp.store import StoreUnavailable
from idp.store.redis import POOL_CONNECTIONS, WAIT_CONNECTIONS, RedisStore
from tests.support.cut import CutProxy
from tests.support.redis import REDIS_URL, redis_store
from tests.support.sentinel import SentinelTopology

WAITERS = 500


@pytest.fixture(params=["redis", "sentinel"])
async def replicas(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two RedisStores on one prefix: two replicas of one deployment."""
    url = REDIS_URL
    if request.param == "sentinel":
        topology: SentinelTopology = request.getfixturevalue("sentinel_topology")
        url = topology.url
    async with redis_store(url) as first:
        async with redis_store(url, prefix=first._prefix) as second:
            yield first, second


def connections(store: RedisStore) -> int:
    """Connections the store's client holds now (pooled, in use, and its subscription's)."""
    pool = store._redis.connection_pool
    return len(pool._available_connections) + len(pool._in_use_connections)



async def wakes_at_once_again(waiting: RedisStore, signalling: RedisStore, prefix: str,
                              give_up_after: float, failure: str) -> None:
    """Within `give_up_after` seconds, a signal from `signalling` wakes a wait of `waiting` at
    once (well under the 2 s look a wait takes without a message), that is through its
    listener; attempts that meet Redis still away are cancelled and tried again."""
    give_up = time.monotonic() + give_up_after
    for attempt in range(100):
        key = f"{prefix}:{attempt}"  # none left over from a failed attempt
        waited = asyncio.create_task(waiting.wait(key, 5))
        try:
            await asyncio.sleep(0.3)
            assert not waited.done()
            signalled = time.monotonic()
            await signalling.signal(key, ttl=30)
            assert await asyncio.wait_for(waited, 6) is True
            if time.monotonic() - signalled < 0.5:
                return
        except StoreUnavailable:
            waited.cancel()
            await asyncio.gather(waited, return_exceptions=True)
            await asyncio.sleep(0.2)
        assert time.monotonic() < give_up, failure
    raise AssertionError(failure)

async def test_hundreds_of_waits_hold_few_connections(
        replicas: tuple[RedisStore, RedisStore]) -> None:
    first, second = replicas
    waits = [asyncio.create_task(first.wait(f"many:{n}", 20)) for n in range(WAITERS)]
    await asyncio.sleep(1.0)
    assert not any(w.done() for w in waits)
    # the same store still answers everything else while they wait
    await first.put("many:other", "v", ttl=30)
    assert await first.get("many:other") == "v"
    held = connections(first)
    # the takers, the subscription, and the one the put/get may have added
    assert held <= WAIT_CONNECTIONS + 2, held
    started = time.monotonic()
    # the other replica signals as its requests would, a few at a time (its own pool is not
    # what this test is about)
    for start in range(0, WAITERS, 20):
        await asyncio.gather(*(second.signal(f"many:{n}", ttl=30)
                               for n in range(start, min(start + 20, WAITERS))))
    woken = await asyncio.wait_for(asyncio.gather(*waits), 10)
    elapsed = time.monotonic() - started
    assert woken == [True] * WAITERS
    # woken by the messages, not by the 2 s look each wait takes without one
    assert elapsed < 1.5, elapsed
    assert connections(first) <= WAIT_CONNECTIONS + 2
    assert first._listener.waiters == {}  # every wait that ended left the listener's table
    print(f"\n{WAITERS} waits: {held} connections held while waiting, "
          f"all woken {elapsed * 1000:.0f} ms after the first signal")


async def test_each_signal_from_another_replica_wakes_exactly_one_wait(
        replicas: tuple[RedisStore, RedisStore]) -> None:
    first, second = replicas
    waits = [asyncio.create_task(first.wait("one:key", 3)) for _ in range(5)]
    await asyncio.sleep(0.3)
    for _ in range(3):
        await second.signal("one:key", ttl=30)
    results = await asyncio.wait_for(asyncio.gather(*waits), 6)
    assert sorted(results) == [False, False, True, True, True]
    assert first._listener.waiters == {}
    # and nothing is left over for a later wait
    assert await first.wait("one:key", 0.2) is False


async def test_waits_on_both_replicas_share_the_signals(
        replicas: tuple[RedisStore, RedisStore]) -> None:
    first, second = replicas
    waits = [asyncio.create_task(store.wait("both:key", 3))
             for store in (first, second) for _ in range(3)]
    await asyncio.sleep(0.3)
    for _ in range(4):
        await first.signal("both:key", ttl=30)
    # four woken at once (well before a wait's 2 s look without a message)
    done, _ = await asyncio.wait(waits, timeout=1.0)
    assert [w.result() for w in done] == [True] * 4
    assert sorted(await asyncio.gather(*waits)) == [False, False, True, True, True, True]


async def test_a_queued_signal_from_another_replica_is_taken_by_the_next_wait(
        replicas: tuple[RedisStore, RedisStore]) -> None:
    first, second = replicas
    await second.signal("queued:key", ttl=30)
    started = time.monotonic()
    assert await first.wait("queued:key", 5) is True
    assert time.monotonic() - started < 0.5
    assert await first.wait("queued:key", 0.2) is False


async def test_a_cut_redis_ends_the_waits_in_time_and_they_work_again_after() -> None:
    with CutProxy("127.0.0.1", 6379, name="redis").start() as proxy:
        async with redis_store(f"redis://127.0.0.1:{proxy.port}/0") as cut:
            async with redis_store(prefix=cut._prefix) as direct:
                # the listener is up and waits are woken by it
                waiting = asyncio.create_task(cut.wait("cut:warm", 5))
                await asyncio.sleep(0.2)
                await direct.signal("cut:warm", ttl=30)
                assert await asyncio.wait_for(waiting, 1.5) is True

                seconds = 4.0
                waits = [asyncio.create_task(cut.wait(f"cut:{n}", seconds)) for n in range(50)]
                await asyncio.sleep(0.3)
                started = time.monotonic()
                proxy.cut()
                try:
                    outcomes = await asyncio.wait_for(
                        asyncio.gather(*waits, return_exceptions=True), seconds + 2)
                    ended = time.monotonic() - started
                    # a 503 or a timeout, each within its time; never a hang, never a wake-up
                    assert all(o is False or isinstance(o, StoreUnavailable) for o in outcomes)
                    assert any(isinstance(o, StoreUnavailable) for o in outcomes)
                    assert ended < seconds + 1.0, ended
                finally:
                    proxy.restore()

                # nothing restarted: within a few seconds a signal wakes a wait through the
                # listener again (not by the 2 s look a wait takes without a message)
                await wakes_at_once_again(cut, direct, "cut:after", 8, "the listener never came back")
                assert cut._listener.subscribed.is_set()
                assert cut._listener.waiters == {}  # the waits that failed left none behind


async def test_waits_behind_sentinel_survive_a_failover() -> None:
    """The primary dies (SIGKILL) while pages wait: their waits end within their time, and once
    the sentinels have promoted the replica, the listener is subscribed to the new primary by
    itself: a signal wakes a wait at once again."""
    with SentinelTopology() as topology:
        async with redis_store(topology.url) as store:
            async with redis_store(topology.url, prefix=store._prefix) as other:
                seconds = 4.0
                waits = [asyncio.create_task(store.wait(f"fo:{n}", seconds)) for n in range(20)]
                await asyncio.sleep(0.3)
                started = time.monotonic()
                killed = await asyncio.to_thread(topology.kill_primary)
                outcomes = await asyncio.wait_for(
                    asyncio.gather(*waits, return_exceptions=True), seconds + 2)
                assert all(o is False or isinstance(o, StoreUnavailable) for o in outcomes)
                assert time.monotonic() - started < seconds + 1.0
                await asyncio.to_thread(topology.wait_for_new_primary, killed)

                await wakes_at_once_again(store, other, "fo:after", 10,
                                          "the listener never reached the new primary")
                assert store._listener.waiters == {}


async def test_a_burst_of_more_commands_than_connections_waits_for_them() -> None:
    """A thousand requests of one worker asking Redis at once (a thousand QR pages polling):
    they queue for the pool's connections instead of failing with "Too many connections"."""
    async with redis_store() as store:
        await store.put("burst", "v", 60)
        answers = await asyncio.gather(*(store.get("burst") for _ in range(1000)))
        assert answers == ["v"] * 1000
        assert connections(store) <= POOL_CONNECTIONS
