"""Grouped calls (idp/db/grouped.py): calls made together go as one group, a quiet moment's first
call goes at once, no call waits past the window, each caller gets its own answer or its group's
failure, and a caller cancelled before its group left is left out of it. `send` here is a plain
coroutine that records each group; the PostgreSQL statement that groups refresh-token claims is
checked in tests/oauth/test_refresh_ledger.py and tests/db/test_pg_direct.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from idp.db.grouped import Grouped


class Recorder:
    """A `send` that answers each call with its double and keeps every group it was given."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.groups: list[list[int]] = []
        self.sent_at: list[float] = []
        self.fail = fail

    async def __call__(self, calls: list[int]) -> list[int]:
        self.groups.append(list(calls))
        self.sent_at.append(time.monotonic())
        await asyncio.sleep(0)  # a round trip's suspension
        if self.fail is not None:
            raise self.fail
        return [call * 2 for call in calls]


def grouped(send: Recorder, *, window: float = 0.05, limit: int = 64) -> Grouped[int, int]:
    return Grouped(send, asyncio.get_running_loop(), window=window, limit=limit)


async def test_calls_made_together_go_as_one_group_and_each_gets_its_answer() -> None:
    send = Recorder()
    calls = grouped(send)
    assert await asyncio.gather(*(calls(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert send.groups == [[0, 1, 2, 3, 4]]


async def test_a_quiet_moments_first_call_goes_at_once_and_the_next_wait_for_the_window(
) -> None:
    send = Recorder()
    window = 0.2
    calls = grouped(send, window=window)
    started = time.monotonic()
    assert await calls(1) == 2
    assert time.monotonic() - started < window / 2  # not held back: nothing was going on
    # within the window of that group: the next calls wait for it to pass, and go together
    first, second = asyncio.create_task(calls(2)), asyncio.create_task(calls(3))
    await asyncio.sleep(window / 4)
    third = asyncio.create_task(calls(4))
    assert await asyncio.gather(first, second, third) == [4, 6, 8]
    assert send.groups == [[1], [2, 3, 4]]
    assert send.sent_at[1] - send.sent_at[0] >= window * 0.9


async def test_a_full_group_goes_without_waiting_for_the_window() -> None:
    send = Recorder()
    calls = grouped(send, window=10.0, limit=3)
    await calls(0)  # the window starts: without the limit the next ones would wait 10 s
    answers = await asyncio.wait_for(asyncio.gather(*(calls(n) for n in range(1, 7))), 5)
    assert answers == [2, 4, 6, 8, 10, 12]
    assert send.groups == [[0], [1, 2, 3], [4, 5, 6]]


async def test_a_failed_group_fails_each_of_its_callers_and_the_next_group_is_sent() -> None:
    send = Recorder(fail=ConnectionResetError("gone"))
    calls = grouped(send, window=0.01)
    results = await asyncio.gather(*(calls(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(result, ConnectionResetError) for result in results), results
    send.fail = None
    assert await calls(7) == 14
    assert send.groups == [[0, 1, 2], [7]]


async def test_a_caller_cancelled_before_its_group_left_is_left_out() -> None:
    send = Recorder()
    calls = grouped(send, window=0.05)
    await calls(0)
    kept, dropped = asyncio.create_task(calls(1)), asyncio.create_task(calls(2))
    await asyncio.sleep(0)  # both queued, their group not yet gone
    dropped.cancel()
    assert await kept == 2
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert send.groups == [[0], [1]]
