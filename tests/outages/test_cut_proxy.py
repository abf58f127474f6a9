"""CutProxy (tests/support/cut.py) in front of the real Redis: it forwards, a cut is prompt (new
connections refused at once, open ones closed), and a restore brings the same port back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support.cut import CutProxy
from tests.support.redis import REDIS_URL

PROMPT = 0.5  # seconds: a cut backend fails at once, it does not time out


@pytest.fixture
def redis_proxy() -> Iterator[CutProxy]:
    target = urlsplit(REDIS_URL)
    assert target.hostname and target.port
    with CutProxy(target.hostname, target.port, name="redis") as proxy:
        yield proxy


async def ping(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A new connection through the proxy that Redis answers (inline PING)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    await pong(reader, writer)
    return reader, writer


async def pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"PING\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.readline(), 2) == b"+PONG\r\n"


async def test_forwards_until_cut_then_refuses_at_once(redis_proxy: CutProxy) -> None:
    reader, writer = await ping(redis_proxy.port)
    await pong(reader, writer)  # the same connection, again
    assert redis_proxy.open_connections == 1

    redis_proxy.cut()
    assert redis_proxy.is_cut and redis_proxy.open_connections == 0
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", redis_proxy.port), 2)
    assert time.monotonic() - started < PROMPT
    # the connection that was open is closed (FIN): its next read ends at once
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(100), 2) == b""
    assert time.monotonic() - started < PROMPT
    writer.close()


async def test_restore_forwards_again_on_the_same_port(redis_proxy: CutProxy) -> None:
    port = redis_proxy.port
    redis_proxy.cut()
    redis_proxy.cut()  # idempotent
    redis_proxy.restore()
    redis_proxy.restore()
    assert redis_proxy.port == port and not redis_proxy.is_cut
    reader, writer = await ping(port)
    with redis_proxy.down():
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
    reader, writer = await ping(port)
    writer.close()
    assert redis_proxy.accepted == 2


async def test_a_reset_cut_resets_open_connections(redis_proxy: CutProxy) -> None:
    reader, writer = await ping(redis_proxy.port)
    redis_proxy.cut(reset=True)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(100), 2)
    writer.close()


async def test_a_backend_that_is_away_closes_the_forwarded_connection() -> None:
    """A proxy in front of a port where nothing listens: the connection is accepted, then closed
    at once, as a load balancer with no backend left does."""
    with CutProxy("127.0.0.1", 1, name="nothing") as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"PING\r\n")
        assert await asyncio.wait_for(reader.read(100), 2) == b""
        writer.close()
