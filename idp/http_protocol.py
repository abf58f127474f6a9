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


class CoalescingTransport:
    """A connection's transport whose writes within one event-loop turn go out as one send.
    Everything but write and close is the real transport's."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending += data

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending)

    def close(self) -> None:
        self.flush()  # a response written just before closing still goes out
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class IdpHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
