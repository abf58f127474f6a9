"""The HTTP/1.1 protocol `idp serve` runs: uvicorn's httptools protocol, with each response sent
in one write and its head built from header lines checked once.

A plain GET of a document (the provider metadata, the JWKS: idp/http/documents.py) is answered
as soon as its head is parsed, from bytes the edge builds once per body (Edge.document_answer),
without an ASGI task, a request or a response object: a third of the CPU such a request cost.

uvicorn writes a response's status line and headers, then its body, as two writes; uvloop sends
each at once (TCP_NODELAY), so every response crossed the network as two segments and the client
woke twice to read it. Here the connection's transport is wrapped: what is written during one
turn of the event loop is joined and sent at the end of that turn (the headers and the body of a
response are written in the same turn). One send per response instead of two: less CPU in the
server, the kernel and the client for every request.

uvicorn also checks every header of every response with two regular expressions and lowers its
name before writing it, although nearly all of them (the content type, the security headers,
Cache-Control) are the same few pairs on every response. `HeadCycle` keeps the finished line of
each pair it has checked, so a repeated header costs one dict lookup; a pair whose value varies
per response (its date, length, request id, cookies, locations) is checked every time, as
uvicorn does, and never kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

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


# header names uvicorn acts on (framing, keep-alive): always read, never kept
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
# header names whose values change from response to response: checked each time, never kept
_VARYING = _FRAMING | frozenset({b"date", b"x-request-id", b"set-cookie", b"location",
                                 b"etag", b"last-modified", b"expires", b"retry-after",
                                 b"www-authenticate", b"content-disposition"})
_KEPT_MAX = 1024  # a bound on the kept lines, whatever an endpoint sends


def head_line(name: bytes, value: bytes) -> bytes:
    """One header line as uvicorn writes it: checked (no CR, LF or other byte a header may not
    hold), the name in lower case. HeadCycle and the edge's document answers both write theirs
    with it."""
    if HEADER_RE.search(name):
        raise RuntimeError("Invalid HTTP header name.")
    if HEADER_VALUE_RE.search(value):
        raise RuntimeError("Invalid HTTP header value.")
    return b"%s: %s\r\n" % (name.lower(), value)


class HeadCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, whose `http.response.start` is written from kept
    header lines (see the module's docstring). The bytes written, and every check and state
    change (Content-Length, chunked, Connection: close), are uvicorn's own."""

    lines: dict[tuple[bytes, bytes], bytes] = {}

    async def send(self, message: Any) -> None:
        if (self.response_started or self.disconnected or self.flow.write_paused
                or self.access_log or message["type"] != "http.response.start"):
            await super().send(message)
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        content = [STATUS_LINE[message["status"]]]
        has_connection_close = False
        kept = self.lines
        for name, value in (*self.default_headers, *message.get("headers", ())):
            line = kept.get((name, value))
            if line is not None:
                content.append(line)
                continue
            line = head_line(name, value)
            raw_name, name = name, name.lower()
            if name in _FRAMING:
                if name == b"content-length" and self.chunked_encoding is None:
                    self.expected_content_length = int(value.decode())
                    self.chunked_encoding = False
                elif name == b"transfer-encoding" and value.lower() == b"chunked":
                    self.expected_content_length = 0
                    self.chunked_encoding = True
                elif name == b"connection":
                    if b"close" in [token.lower().strip() for token in value.split(b",")]:
                        self.keep_alive = False
                        has_connection_close = True
            if name not in _VARYING and len(kept) < _KEPT_MAX:
                kept[(bytes(raw_name), bytes(value))] = line
            content.append(line)
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" \
                and message["status"] not in (204, 304):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.transport.write(b"".join(content))


class IdpHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        # a request has begun: the connection is not idle, whatever the last answer armed (a
        # document answered at once arms the keep-alive timer while a pipelined request may
        # follow in the same read)
        self._unset_keepalive_if_required()
        super().on_message_begin()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        answer_now = getattr(app, "document_answer", None)
        if answer_now is not None and not self.flow.write_paused:
            # (a client that does not read its answers gets no more of them written this way:
            # while writing is paused, its requests queue behind the app's as uvicorn queues them)
            answer = answer_now(cycle.scope, self.server_state.default_headers, cycle.keep_alive)
            if answer is not None:
                cycle.response_started = cycle.response_complete = True
                cycle.transport.write(answer)
                if not cycle.keep_alive:
                    cycle.transport.close()
                cycle.on_response()
                return
        super()._start_asgi_task(cycle, app)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # the cycle uvicorn just made runs its app from the next turn of the loop on, and looks
        # up its `send` then: it is a HeadCycle by that time
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = HeadCycle

    def shutdown(self) -> None:
        """A graceful shutdown begins: a long poll in flight answers now rather than holding the
        exit for the rest of its wait (idp/http/long_poll.py)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            drain = cycle.scope.get(DRAIN_KEY)
            if isinstance(drain, asyncio.Event):
                drain.set()
        super().shutdown()
