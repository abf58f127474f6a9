"""The response head `idp serve` writes (idp/server/transport.py HeadCycle): byte for byte what
uvicorn's own cycle writes, with the same framing state after it, for every kind of head; and
on a live server, the kept lines serve the next response unchanged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from idp.server.transport import HeadCycle


class Written:
    """The connection's end of the cycle: what it was asked to write."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def _cycle(kind: type[RequestResponseCycle], method: str, keep_alive: bool
           ) -> tuple[RequestResponseCycle, Written]:
    written = Written()
    cycle = kind({"type": "http", "method": method}, written,  # type: ignore[arg-type]
                 FlowControl(written), logging.getLogger("t"),  # type: ignore[arg-type]
                 logging.getLogger("t.access"), False,
                 [(b"server", b"uvicorn"), (b"date", b"Sun, 06 Dec 2026 18:00:00 GMT")],
                 asyncio.Event(), False, keep_alive, lambda: None)
    return cycle, written


HEADS: list[tuple[str, bool, int, list[tuple[bytes, bytes]]]] = [
    ("GET", True, 200, [(b"Content-Type", b"application/json"), (b"content-length", b"12"),
                        (b"cache-control", b"no-store"), (b"x-request-id", b"abc")]),
    ("GET", True, 200, [(b"content-type", b"text/html; charset=utf-8")]),  # chunked added
    ("GET", True, 200, [(b"transfer-encoding", b"chunked")]),
    ("GET", True, 200, [(b"content-length", b"0"), (b"Connection", b"keep-alive, close")]),
    ("GET", False, 302, [(b"location", b"https://rp.example.edu/cb?code=x"),
                         (b"content-length", b"0")]),
    ("HEAD", True, 200, [(b"content-type", b"application/json")]),
    ("GET", True, 204, [(b"x-content-type-options", b"nosniff")]),
    ("GET", True, 304, [(b"etag", b'"v1"')]),
]


def _state(cycle: RequestResponseCycle) -> tuple[Any, ...]:
    return (cycle.response_started, cycle.keep_alive, cycle.chunked_encoding,
            cycle.expected_content_length)


@pytest.mark.parametrize(("method", "keep_alive", "status", "headers"), HEADS)
async def test_head_and_state_are_uvicorns(method: str, keep_alive: bool, status: int,
                                           headers: list[tuple[bytes, bytes]]) -> None:
    for _ in range(2):  # the second time from the kept lines
        theirs, their_bytes = _cycle(RequestResponseCycle, method, keep_alive)
        ours, our_bytes = _cycle(HeadCycle, method, keep_alive)
        message = {"type": "http.response.start", "status": status, "headers": headers}
        await theirs.send(dict(message))
        await ours.send(dict(message))
        assert our_bytes.data == their_bytes.data
        assert _state(ours) == _state(theirs)


async def test_repeated_pairs_are_kept_and_varying_ones_not() -> None:
    HeadCycle.lines.clear()
    ours, _ = _cycle(HeadCycle, "GET", True)
    await ours.send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"x-request-id", b"r1"),
        (b"content-length", b"2")]})
    kept = {name for name, _ in HeadCycle.lines}
    assert b"content-type" in kept and b"server" in kept
    assert not kept & {b"x-request-id", b"content-length", b"date"}


@pytest.mark.parametrize("bad", [(b"x-a", b"one\r\ntwo"), (b"x a", b"1"), (b"x-b", b"\x00")])
async def test_an_invalid_header_is_refused_as_uvicorn_does(bad: tuple[bytes, bytes]) -> None:
    ours, written = _cycle(HeadCycle, "GET", True)
    with pytest.raises(RuntimeError, match="Invalid HTTP header"):
        await ours.send({"type": "http.response.start", "status": 200, "headers": [bad]})
    assert written.data == b""
    assert bad not in HeadCycle.lines
