"""One pipelined connection per process for the Store's short commands: `RedisWire`.

Every Store operation is one short command (GET, SET, an EVALSHA of a few keys). Through
redis-py's asyncio client each costs ~70–130 µs of the worker's CPU: a connection taken from the
pool and given back, a timeout armed around the send and another around the read, the retry
wrapper, the response callbacks. A password login makes eight of them. Redis answers the
commands of one connection in the order they were sent, so one connection can carry every
coroutine's commands at once: each caller writes its command and waits on a future; replies are
matched to futures in order as hiredis parses them (~10 µs a command). Writes of concurrent
callers leave in the same segments, as a pipeline would.

What redis-py's pool gave that this keeps:
- a reply that does not come within `timeout` fails every command waiting on the connection,
  which is dropped (a silent server is a prompt 503, never a request held for ever);
- a connection that is lost is replaced by the next command, and a command that was in flight
  on it is sent once more on the new one (redis-py's retry did the same: at least once);
- a caller that gives up (a cancelled request) leaves its reply to be read and dropped, so the
  next caller's reply is its own (redis-py's pool had to throw such a connection away);
- AUTH and SELECT from the URL, TCP keep-alive on the socket instead of a health-check PING.

Only commands that answer at once belong here: a blocking one (XREAD BLOCK, BLPOP, SUBSCRIBE)
would hold every other caller behind it; those, SCAN and pipelines stay on redis-py. Plain
`redis://` and `unix://` URLs use the wire; `rediss://` (TLS) and Sentinel keep redis-py's
client for everything (idp/store/redis.py `command_wire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# connection attempts per command, and the pauses between them: enough to ride over a server's
# restart, short enough that an outage is a prompt 503
CONNECT_ATTEMPTS = 3
CONNECT_PAUSES = (0.02, 0.1)
CLIENT_NAME = "campus-idp"


def plain_url(url: str) -> bool:
    """Whether `url` is one the wire speaks: redis:// or unix:// (no TLS, no Sentinel)."""
    return url.partition("://")[0].lower() in ("redis", "unix")


class _Lost(Exception):
    """The connection went away before the reply came: the command may be sent again."""


def _reply_error(error: hiredis.ReplyError) -> ResponseError:
    message = str(error)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class _Connection(asyncio.Protocol):
    """One connection: commands written as they come, replies handed out in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.reader = hiredis.Reader(encoding="utf-8")
        # (when sent, the caller's future), oldest first
        self.waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self.transport: asyncio.Transport | None = None
        self.outgoing: list[bytes] = []  # commands not yet written
        self.open = False
        self.failure: Exception = _Lost("redis: connection closed")
        self._watch: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike
        self.transport = cast(asyncio.Transport, transport)
        self.open = True
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # a peer that vanished without a FIN (a host gone, a firewall forgetting the
            # connection) is noticed by the kernel, not at the next command's timeout
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        # written when this turn of the event loop is over, with every other command of it: one
        # send() for several callers (a system call costs more than a command's own work)
        if not self.outgoing:
            self.loop.call_soon(self._flush)
        self.outgoing.append(packed)
        self.waiting.append((self.loop.time(), future))
        if self._watch is None:
            self._watch = self.loop.call_later(self.timeout, self._check)
        return future

    def _flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if self.open and self.transport is not None:
            self.transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(RedisConnectionError(f"redis: {exc}"))
                return
            if reply is False:
                return
            if not waiting:  # a reply nobody asked for: the stream cannot be trusted
                self._fail(RedisConnectionError("redis: a reply without a command"))
                return
            _, future = waiting.popleft()
            if future.done():  # its caller gave up: the reply is read and dropped
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(_reply_error(reply))
            else:
                future.set_result(reply)

    def _check(self) -> None:
        """The oldest command has had `timeout` to be answered: the connection is dead."""
        self._watch = None
        if not self.waiting:
            return
        late = self.waiting[0][0] + self.timeout - self.loop.time()
        if late > 0:
            self._watch = self.loop.call_later(late, self._check)
            return
        self._fail(RedisTimeoutError(f"redis: no reply within {self.timeout:.0f} s"))

    def _fail(self, failure: Exception) -> None:
        self.failure = failure
        self.open = False
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows and fails the callers

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        waiting, self.waiting = self.waiting, deque()
        failure = self.failure
        for _, future in waiting:
            if not future.done():  # one exception each: a raise adds to its traceback
                future.set_exception(type(failure)(*failure.args))

    def eof_received(self) -> bool:
        self.open = False  # the server closed its side: no new command goes out on it
        return False  # close ours too; connection_lost follows


class RedisWire:
    """`await wire.call("SET", key, value, "EX", ttl)`: the reply as Redis sent it (strings
    decoded, integers, lists, None), an error reply raised as redis-py's ResponseError (or
    NoScriptError), a connection that fails as redis-py's ConnectionError / TimeoutError."""

    def __init__(self, url: str, *, timeout: float) -> None:
        options = parse_url(url)
        self._path: str | None = options.get("path")
        self._host = options.get("host", "localhost")
        self._port = int(options.get("port", 6379))
        self._timeout = timeout
        # sent first on every new connection, answered before any caller's command
        hello: list[tuple[Any, ...]] = [("CLIENT", "SETNAME", CLIENT_NAME)]
        password = options.get("password")
        if password is not None:
            username = options.get("username")
            hello.insert(0, ("AUTH", username, password) if username else ("AUTH", password))
        if int(options.get("db") or 0):
            hello.append(("SELECT", int(options["db"])))
        self._hello = hello
        self._connection: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None

    async def call(self, *args: Any) -> Any:
        packed = hiredis.pack_command(args)
        for attempt in (1, 2):
            connection = self._connection
            if connection is None or not connection.open \
                    or connection.loop is not asyncio.get_running_loop():
                connection = await self._connect()
            try:
                return await connection.send(packed)
            except _Lost:
                if attempt == 2:
                    raise RedisConnectionError("redis: connection lost twice") from None
        raise AssertionError("unreachable")

    async def _connect(self) -> _Connection:
        """A new connection, opened once for every caller that finds none: the opening is a
        task of its own, so that a caller who gives up (a cancelled request) cancels nobody
        else's wait for it."""
        loop = asyncio.get_running_loop()
        task = self._connecting
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._connecting = loop.create_task(self._open(loop), name="redis connect")
            # retrieved here, in case every caller waiting for it gave up first
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(task)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        failure: Exception = RedisConnectionError("redis: not connected")
        for attempt in range(CONNECT_ATTEMPTS):
            if attempt:
                await asyncio.sleep(CONNECT_PAUSES[min(attempt - 1, len(CONNECT_PAUSES) - 1)])
            connection: _Connection | None = None
            try:
                async with asyncio.timeout(self._timeout):
                    if self._path is not None:
                        _, connection = await loop.create_unix_connection(
                            lambda: _Connection(loop, self._timeout), self._path)
                    else:
                        _, connection = await loop.create_connection(
                            lambda: _Connection(loop, self._timeout), self._host, self._port)
                    # the handshake's replies come first, in order; an error fails the connect
                    answers = [connection.send(hiredis.pack_command(line))
                               for line in self._hello]
                    for answer in answers:
                        await answer
            except ResponseError as exc:  # AUTH refused, SELECT out of range: no retry helps
                _abort(connection)
                raise RedisConnectionError(f"redis: {exc}") from exc
            except TimeoutError:
                _abort(connection)
                failure = RedisTimeoutError(f"redis: no connection within {self._timeout:.0f} s")
                continue
            except (OSError, RedisConnectionError, _Lost) as exc:
                _abort(connection)
                failure = RedisConnectionError(f"redis: {exc}")
                continue
            old, self._connection = self._connection, connection
            _abort(old)  # a dead one, or another event loop's
            return connection
        raise failure

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.failure = RedisConnectionError("redis: the store was closed")
            _abort(connection)


def _abort(connection: _Connection | None) -> None:
    if connection is not None and connection.transport is not None:
        with contextlib.suppress(RuntimeError):  # its event loop is closed: nothing to do
            connection.transport.abort()
