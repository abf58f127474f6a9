"""Holding a request open until something happens (a long poll), without holding anything else.

A long poll (the QR sign-in's /qr/{code}/wait) may hold its answer for many seconds. Two things
must not wait that long with it:
- a client that went away (the page was closed): the wait stops at its disconnect;
- a graceful shutdown: uvicorn lets requests in flight finish before the process exits, so a
  held poll would delay every restart by the rest of its wait. The request puts an event under
  DRAIN_KEY in its scope; the server's HTTP protocol (idp/server/transport.py) sets it when the
  shutdown begins, and the poll answers at once. The client asks again, reaching another replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

T = TypeVar("T")

DRAIN_KEY = "idp.drain"


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def hold(request: Request, waiting: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
    """(True, the result of `waiting`), or (False, None) when the client left or the server
    began to shut down first (`waiting` is then cancelled)."""
    drain = asyncio.Event()
    request.scope[DRAIN_KEY] = drain
    work = asyncio.ensure_future(waiting)
    stops = {asyncio.ensure_future(_disconnected(request)), asyncio.ensure_future(drain.wait())}
    try:
        done, _ = await asyncio.wait({work, *stops}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return True, work.result()
        return False, None
    finally:
        request.scope.pop(DRAIN_KEY, None)
        for task in (work, *stops):
            task.cancel()
        await asyncio.gather(work, *stops, return_exceptions=True)
