"""Stopping the tasks that follow Redis for the whole life of a process (the signal listener,
idp/store/redis.py; the revoked list's log follower, idp/sso/revoked.py).

Cancelling such a task does not make sure it ends. A task dump of a shutdown that hung showed
the revoked list's follower marked as cancelling yet reading again inside redis-py: the
cancellation had been consumed on the way (redis-py retries a command after connection and
timeout errors, and drops the connection it was reading from when interrupted), the command
went on, and the loop around it, built to carry on after Store errors, would have carried on for
good, with `close()` awaiting it. So both loops ask `cancelled_meanwhile()` at every turn instead
of running `while True`, and `stop` waits for the task a bounded time."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("idp.store")

STOP_WITHIN = 5.0  # seconds a stopped task may take to end before it is left behind


def cancelled_meanwhile() -> bool:
    """The running task was asked to stop, even if the CancelledError never reached its loop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop(task: asyncio.Task[None] | None, *, within: float = STOP_WITHIN) -> None:
    """Cancel `task` and wait for it to end, at most `within` seconds."""
    if task is None or task.done():
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning("%s did not end within %.0f s of being stopped; left behind",
                    task.get_name(), within)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("%s ended with an error when stopped: %r", task.get_name(), task.exception())
