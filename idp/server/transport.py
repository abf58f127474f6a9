"""The HTTP/1.1 protocol `idp serve` runs: uvicorn's httptools protocol, with each response sent
in one write.

uvicorn writes a response's status line and headers, then its body, as two writes; uvloop sends
each at once (TCP_NODELAY), so every response crossed the network as two segments and the client
woke twice to read it. Here the connection's transport is wrapped: what is written during one
turn of the event loop is joined and sent at the end of that turn (the headers and the body of a
response are written in the same turn). One send per response instead of two: less CPU in the
server, the kernel and the client for every request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from idp.http.long_poll import DRAIN_KEY


class CoalescingTransport:
    """A connection's transport whose writes within one event-loop turn go out as one send.
    Everything but write and close is the real transport's.

    A turn that writes FLUSH_AT bytes or more sends at once: a streamed body (an audit export)
    still reaches the real transport as it is produced, so its flow control (pause_writing when
    the client reads slowly) works as before."""

    __slots__ = ("_transport", "_loop", "_pending", "_size", "_scheduled")

    FLUSH_AT = 64 * 1024

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= self.FLUSH_AT:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_soon)

    @property
    def held(self) -> int:
        """Bytes written and not yet sent (they go at the end of this turn)."""
        return self._size

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush_soon(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending, self._size = [], 0
        if not self._transport.is_closing():
            self._transport.write(pending)

    def close(self) -> None:
        self.flush()  # a response written just before closing still goes out
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class IdpHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def shutdown(self) -> None:
        """A graceful shutdown begins: a long poll in flight answers now rather than holding the
        exit for the rest of its wait (idp/http/long_poll.py)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            drain = cycle.scope.get(DRAIN_KEY)
            if isinstance(drain, asyncio.Event):
                drain.set()
        super().shutdown()
