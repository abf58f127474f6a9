"""Calls of one statement that arrive together go to PostgreSQL as one statement (group commit).

Why: a statement that writes costs PostgreSQL about as much for its transaction (the round
trip, the executor's start, the commit and its WAL flush) as for its row: a refresh_token
grant's claim costs ~190 µs of its CPU, of which ~20 µs are the row. Sent as one statement, a
second claim costs those ~20 µs, and the worker sends and decodes one message instead of two.

How: the first call after a quiet moment goes at once (on the loop's next turn, with the calls
made in the same turn). Under load, a group goes at most every `window` seconds: the calls that
arrive meanwhile wait for the next one, so no call waits longer than `window`, and a busy
process sends a statement per window instead of one per call. PostgreSQL's own commit_delay
does the same for WAL flushes only; here the whole transaction is shared.

A group's statement either answers every call in it or fails them all with its exception (the
calls are independent: their statement must give each its own answer, as CLAIM_REFRESHES does
by the successor each claim names). A call whose caller was cancelled before its group left is
left out; once the group has left, its statement runs to the end in a task of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Call = TypeVar("Call")
Answer = TypeVar("Answer")


class Grouped(Generic[Call, Answer]):
    """Sends the calls made through it as groups (see the module docstring). `send` takes a
    group's calls and answers each, in order. One event loop's: PgDirect makes one per loop."""

    def __init__(self, send: Callable[[list[Call]], Awaitable[list[Answer]]],
                 loop: asyncio.AbstractEventLoop, *, window: float, limit: int) -> None:
        self._send = send
        self._loop = loop
        self._window = window
        self._limit = limit
        self._calls: list[Call] = []
        self._waiting: list[asyncio.Future[Answer]] = []
        self._planned: asyncio.Handle | None = None
        self._last_sent = float("-inf")
        self._in_flight: set[asyncio.Task[None]] = set()

    async def __call__(self, call: Call) -> Answer:
        answer: asyncio.Future[Answer] = self._loop.create_future()
        self._calls.append(call)
        self._waiting.append(answer)
        if len(self._calls) >= self._limit:
            self._leave()
        elif self._planned is None:
            due = self._last_sent + self._window - self._loop.time()
            self._planned = (self._loop.call_soon(self._leave) if due <= 0
                             else self._loop.call_later(due, self._leave))
        return await answer

    def _leave(self) -> None:
        """The group goes: its statement runs in a task of its own."""
        if self._planned is not None:
            self._planned.cancel()
            self._planned = None
        calls, waiting = self._calls, self._waiting
        self._calls, self._waiting = [], []
        live = [index for index, answer in enumerate(waiting) if not answer.done()]
        if not live:
            return
        self._last_sent = self._loop.time()
        task = self._loop.create_task(self._run([calls[i] for i in live],
                                                [waiting[i] for i in live]))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _run(self, calls: list[Call], waiting: list[asyncio.Future[Answer]]) -> None:
        try:
            answers = await self._send(calls)
        except Exception as exc:  # every caller gets the failure
            for answer in waiting:
                if not answer.done():
                    answer.set_exception(exc)
            return
        except BaseException:  # the loop is going away: so are the callers
            for answer in waiting:
                answer.cancel()
            raise
        for answer, value in zip(waiting, answers, strict=True):
            if not answer.done():
                answer.set_result(value)
