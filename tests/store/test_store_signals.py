"""The Store's signal/wait pair (idp/store/base.py), on every backend: what the QR sign-in's
long poll blocks on. A wait ends as soon as a signal comes, a signal sent before the wait is not
lost, each signal wakes one wait, and on Redis a signal from one client (another replica) wakes
a wait on another."""

from __future__ import annotations

import asyncio
import time

from idp.store import Store
from tests.support.redis import redis_store


async def test_wait_without_signal_times_out(store: Store) -> None:
    started = time.monotonic()
    assert await store.wait("sig:none", 0.3) is False
    assert 0.25 <= time.monotonic() - started < 1.5


async def test_signal_before_wait_is_kept(store: Store) -> None:
    await store.signal("sig:early", ttl=30)
    started = time.monotonic()
    assert await store.wait("sig:early", 2) is True
    assert time.monotonic() - started < 0.5
    # used up: the next wait finds nothing
    assert await store.wait("sig:early", 0.2) is False


async def test_signal_wakes_a_waiting_wait_at_once(store: Store) -> None:
    waiting = asyncio.create_task(store.wait("sig:now", 5))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    await store.signal("sig:now", ttl=30)
    assert await asyncio.wait_for(waiting, 2) is True
    assert time.monotonic() - started < 0.5


async def test_each_signal_wakes_one_wait(store: Store) -> None:
    await store.signal("sig:two", ttl=30)
    await store.signal("sig:two", ttl=30)
    assert await store.wait("sig:two", 1) is True
    assert await store.wait("sig:two", 1) is True
    assert await store.wait("sig:two", 0.2) is False


async def test_unused_signal_expires(store: Store) -> None:
    await store.signal("sig:old", ttl=1)
    await asyncio.sleep(2.1)
    assert await store.wait("sig:old", 0.2) is False


async def test_signals_are_per_key(store: Store) -> None:
    await store.signal("sig:a", ttl=30)
    assert await store.wait("sig:b", 0.2) is False
    assert await store.wait("sig:a", 0.2) is True


async def test_a_wait_longer_than_the_socket_timeout(store: Store) -> None:
    """Redis waits in slices below its socket timeout (3 s): a signal late in a long wait still
    wakes it, and the quiet seconds before are no error."""
    waiting = asyncio.create_task(store.wait("sig:long", 10))
    await asyncio.sleep(3.5)
    assert not waiting.done()
    await store.signal("sig:long", ttl=30)
    assert await asyncio.wait_for(waiting, 3) is True


async def test_redis_signal_from_another_client_wakes_the_wait() -> None:
    """Two RedisStores on one prefix are two replicas: no in-process shortcut can pass this."""
    async with redis_store() as first:
        async with redis_store(prefix=first._prefix) as second:
            waiting = asyncio.create_task(first.wait("sig:replica", 5))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await second.signal("sig:replica", ttl=30)
            assert await asyncio.wait_for(waiting, 2) is True
            assert time.monotonic() - started < 0.5


async def test_a_cancelled_wait_leaves_the_signal_to_the_next(store: Store) -> None:
    """A long poll whose page went away cancels its wait: the signal that comes after is kept
    for the next wait, not lost with the one that was cancelled."""
    waiting = asyncio.create_task(store.wait("sig:left", 5))
    await asyncio.sleep(0.2)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert waiting.cancelled()
    await store.signal("sig:left", ttl=30)
    started = time.monotonic()
    assert await store.wait("sig:left", 2) is True
    assert time.monotonic() - started < 0.5
