"""A TCP forwarder that can take a backend away and give it back: `CutProxy`.

Put it between campus-idp and a real server (slapd, Redis, PostgreSQL) and point the IdP at the
proxy's port instead of the server's. While it forwards, the IdP cannot tell it is there. Then:

- `cut()`: the backend is down, as when its process dies on a host that is still up. The port
  stops listening, so a new connection is refused at once (ECONNREFUSED, no timeout to wait out),
  and every forwarded connection is closed on both sides, so the IdP's pooled connections fail
  on their next use. `cut(reset=True)` sends RST instead of FIN on those (a crash with data in
  flight, a stateful firewall forgetting the connection).
- `restore()`: the backend is back, on the SAME port: the IdP must reconnect by itself.

How the port stays ours while nothing listens: the listening socket is bound to an explicit port
and `shutdown()` while cut. On Linux a shut-down listener returns to the CLOSE state, still bound
(an explicit bind locks the port), so SYNs are answered with RST and the kernel never hands the
port to an outgoing connection; `listen()` on the same socket makes it accept again. Closing and
binding a new socket instead would leave a window in which another socket could take the port.

The proxy runs its own asyncio loop in a daemon thread, so it keeps forwarding while the test's
loop is busy or blocked (python-ldap's synchronous calls, a blocking helper), and `cut()` /
`restore()` can be called from any thread, sync or async code alike. They return once the change
is in effect. Nothing here is a mock: real sockets, real servers behind them.

    proxy = CutProxy("127.0.0.1", 6379, name="redis").start()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    ...
    with proxy.down():  # cut, then restore on the way out
        ...
    proxy.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"
BACKLOG = 128
CHUNK = 64 * 1024
CONNECT_TIMEOUT = 5.0  # to the real backend, when a connection is accepted
CALL_TIMEOUT = 10.0  # for cut/restore/close to take effect on the proxy's loop


@dataclass(eq=False)
class _Pair:
    """One forwarded connection: the IdP's side and the backend's side."""

    client: socket.socket
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


def _reserve_port() -> socket.socket:
    """A listening socket bound to an explicit free port (see the module docstring: only an
    explicit bind keeps the port across `shutdown()`)."""
    for _ in range(20):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
        probe.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            sock.close()  # taken in between: try another
            continue
        sock.listen(BACKLOG)
        sock.setblocking(False)
        return sock
    raise RuntimeError("no free port for the proxy on 127.0.0.1")


class CutProxy:
    """A forwarder from 127.0.0.1:`port` to `target_host`:`target_port`; see the module doc."""

    def __init__(self, target_host: str, target_port: int, *, name: str = "") -> None:
        self.target = (target_host, target_port)
        self.name = name or f"{target_host}:{target_port}"
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._pairs: set[_Pair] = set()
        self._cut = False
        self.accepted = 0  # connections forwarded since start, for tests that want to know

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> CutProxy:
        if self._thread is not None:
            raise RuntimeError(f"proxy {self.name} already started")
        self._listener = _reserve_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"cut-proxy {self.name}")
        self._thread.start()
        self._call(self._start_accepting())
        return self

    def close(self) -> None:
        """Stop for good: connections closed, port released, thread ended."""
        if self._loop is None or self._thread is None:
            return
        self._call(self._shut(reset=False, release=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_TIMEOUT)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> CutProxy:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what tests use -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError(f"proxy {self.name} is not started")
        return int(self._listener.getsockname()[1])

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def open_connections(self) -> int:
        """Forwarded connections open right now."""
        return self._call(self._count())

    def cut(self, *, reset: bool = False) -> None:
        """The backend goes down: new connections refused, open ones closed (FIN; RST with
        `reset`). Idempotent."""
        self._call(self._shut(reset=reset, release=False))

    def restore(self) -> None:
        """The backend is back on the same port. Idempotent."""
        self._call(self._start_accepting())

    @contextlib.contextmanager
    def down(self, *, reset: bool = False) -> Iterator[None]:
        """`with proxy.down():` the backend is away inside the block, back after it."""
        self.cut(reset=reset)
        try:
            yield
        finally:
            self.restore()

    # --- on the proxy's loop ------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or self._thread is None:
            coro.close()
            raise RuntimeError(f"proxy {self.name} is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("call the proxy from another thread than its own")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=CALL_TIMEOUT)

    async def _count(self) -> int:
        return len(self._pairs)

    async def _start_accepting(self) -> None:
        assert self._listener is not None
        if self._accepting is not None and not self._accepting.done():
            return
        if self._cut:
            self._listener.listen(BACKLOG)  # the same socket, the same port
            self._cut = False
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            client, _ = await loop.sock_accept(self._listener)
            self.accepted += 1
            pair = _Pair(client)
            self._pairs.add(pair)
            pair.tasks.append(loop.create_task(self._forward(pair)))

    async def _shut(self, *, reset: bool, release: bool) -> None:
        assert self._listener is not None
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        if not self._cut:
            # stop listening first, so that nobody reconnects through us while we close
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._cut = True
        pairs, self._pairs = list(self._pairs), set()
        for pair in pairs:
            self._close_pair(pair, reset=reset)
        tasks = [task for pair in pairs for task in pair.tasks]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if release:
            self._listener.close()

    @staticmethod
    def _close_pair(pair: _Pair, *, reset: bool) -> None:
        for task in pair.tasks:
            task.cancel()
        sockets = [pair.client] + [w.get_extra_info("socket") for w in pair.writers]
        for sock in sockets:
            if reset and sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for writer in pair.writers:
            writer.transport.abort()
        with contextlib.suppress(OSError):
            pair.client.close()

    async def _forward(self, pair: _Pair) -> None:
        """Connect to the backend, then copy bytes both ways until both sides are done."""
        try:
            client_reader, client_writer = await asyncio.open_connection(sock=pair.client)
            pair.writers.append(client_writer)
            try:
                backend_reader, backend_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.target), CONNECT_TIMEOUT)
            except (OSError, TimeoutError):
                client_writer.transport.abort()  # the real backend is away: so are we
                return
            pair.writers.append(backend_writer)
            await asyncio.gather(_pump(client_reader, backend_writer),
                                 _pump(backend_reader, client_writer))
        finally:
            for writer in pair.writers:
                writer.transport.abort()
            self._pairs.discard(pair)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the EOF on (a half-close stays a half-close)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()
