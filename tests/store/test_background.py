"""Stopping a task that follows Redis (idp/store/background.py): a task that carries on after
its cancellation does not hold its stopper for longer than the bound, and one that notices it
was stopped, although the CancelledError never reached its loop, ends."""

from __future__ import annotations

import asyncio
import time

from idp.store.background import cancelled_meanwhile, stop


async def test_stop_waits_no_longer_than_its_bound_for_a_task_that_carries_on() -> None:
    released = asyncio.Event()

    async def carries_on() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                pass  # as a loop does that takes its cancellation for an error it retries

    task = asyncio.create_task(carries_on())
    await asyncio.sleep(0.02)
    began = time.monotonic()
    await stop(task, within=0.3)
    assert 0.25 < time.monotonic() - began < 2.0
    assert not task.done()
    released.set()
    await asyncio.wait_for(task, 1.0)


async def test_a_loop_that_asks_cancelled_meanwhile_ends_after_a_swallowed_cancellation() -> None:
    turns = 0

    async def follows() -> None:
        nonlocal turns
        while not cancelled_meanwhile():
            turns += 1
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                pass  # swallowed, as it may be deep inside a client library

    task = asyncio.create_task(follows())
    await asyncio.sleep(0.05)
    await stop(task, within=2.0)
    assert task.done() and not task.cancelled()
    assert turns > 1


async def test_stop_of_no_task_or_an_ended_one_returns_at_once() -> None:
    await stop(None)

    async def ends() -> None:
        return None

    task = asyncio.create_task(ends())
    await task
    await stop(task)
    assert task.done() and not task.cancelled()
