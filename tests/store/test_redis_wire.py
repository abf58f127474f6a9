"""The Store's pipelined Redis connection (idp/store/redis_wire.py) against the real Redis: many
callers on one connection, each with its own reply; a caller that gives up; a silent server, a
connection killed or cut with a command in flight; AUTH and SELECT from the URL; a Unix socket;
the same on uvloop, the servers' event loop.
(The Store contract suite runs every operation through it as well: tests/store.)"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from idp.store.redis import RedisStore, command_wire
from idp.store.redis_wire import CLIENT_NAME, RedisWire, plain_url
from tests.support.cut import CutProxy
from tests.support.redis import REDIS_URL

# keeps Redis busy for ARGV[1] milliseconds, then answers 'slow': no other command is served
# meanwhile, so a reply can be made late on purpose
BUSY = """
local start = redis.call('TIME')
local until_us = start[1] * 1000000 + start[2] + ARGV[1] * 1000
while true do
  local now = redis.call('TIME')
  if now[1] * 1000000 + now[2] >= until_us then return 'slow' end
end
"""


@pytest.fixture
async def wire() -> AsyncIterator[RedisWire]:
    w = RedisWire(REDIS_URL, timeout=3.0)
    yield w
    w.close()


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


def key() -> str:
    return f"test-wire-{uuid.uuid4().hex[:8]}"


async def test_plain_servers_use_the_wire_tls_and_sentinel_keep_redis_py() -> None:
    assert plain_url("redis://127.0.0.1:6379/0") and plain_url("unix:///run/redis.sock")
    assert not plain_url("rediss://redis.campus.edu:6380/0")
    assert not plain_url("redis+sentinel://127.0.0.1:26379/campus/0")
    store = RedisStore("rediss://127.0.0.1:1/0", prefix="test-tls:")
    try:
        assert not isinstance(store._wire, RedisWire)
    finally:
        await store.close()
    assert isinstance(command_wire(REDIS_URL, aioredis.Redis()), RedisWire)


async def test_concurrent_callers_each_get_their_own_reply(wire: RedisWire,
                                                           admin: aioredis.Redis) -> None:
    keys = [key() for _ in range(300)]
    connection = await wire.call("CLIENT", "ID")
    try:
        assert await asyncio.gather(*(wire.call("SET", k, f"value of {k}", "EX", 60)
                                      for k in keys)) == ["OK"] * len(keys)
        got = await asyncio.gather(*(wire.call("GET", k) for k in reversed(keys)))
        assert got == [f"value of {k}" for k in reversed(keys)]
        # integers, lists and nil come back as Redis sent them
        assert await wire.call("MGET", keys[0], "test-wire-missing") == [f"value of {keys[0]}",
                                                                         None]
        assert await wire.call("DEL", *keys) == len(keys)
    finally:
        await admin.delete(*keys)
    # one connection carried them all, under the wire's name
    assert await wire.call("CLIENT", "ID") == connection
    assert await wire.call("CLIENT", "GETNAME") == CLIENT_NAME


async def test_a_caller_that_gives_up_leaves_the_next_reply_to_its_owner(
        wire: RedisWire, admin: aioredis.Redis) -> None:
    k = key()
    await admin.set(k, "mine", ex=60)
    try:
        slow = asyncio.create_task(wire.call("EVAL", BUSY, 0, 300))
        await asyncio.sleep(0.05)
        get = asyncio.create_task(wire.call("GET", k))  # queued behind the script
        await asyncio.sleep(0.05)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # the script's 'slow' is read and dropped: the GET gets its own value
        assert await get == "mine"
        assert await wire.call("GET", k) == "mine"
    finally:
        await admin.delete(k)


async def test_an_error_reply_is_raised_and_the_connection_goes_on(wire: RedisWire,
                                                                   admin: aioredis.Redis) -> None:
    k = key()
    try:
        await wire.call("SET", k, "text", "EX", 60)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await wire.call("LPUSH", k, "item")
        assert await wire.call("GET", k) == "text"
    finally:
        await admin.delete(k)


async def test_no_reply_within_the_timeout_fails_and_the_next_command_reconnects() -> None:
    wire = RedisWire(REDIS_URL, timeout=0.3)
    try:
        first = await wire.call("CLIENT", "ID")
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await wire.call("EVAL", BUSY, 0, 700)
        assert time.monotonic() - started < 0.6
        await asyncio.sleep(0.6)  # the script is over
        assert await wire.call("PING") == "PONG"
        assert await wire.call("CLIENT", "ID") != first  # the dead connection was dropped
    finally:
        wire.close()


async def test_a_killed_connection_is_replaced_by_the_next_command(
        wire: RedisWire, admin: aioredis.Redis) -> None:
    first = await wire.call("CLIENT", "ID")
    assert await admin.execute_command("CLIENT", "KILL", "ID", first) == 1
    await asyncio.sleep(0.05)
    assert await wire.call("PING") == "PONG"
    assert await wire.call("CLIENT", "ID") != first


@pytest.fixture
def redis_proxy() -> Iterator[CutProxy]:
    with CutProxy("127.0.0.1", 6379, name="redis").start() as proxy:
        yield proxy


async def test_a_command_in_flight_on_a_lost_connection_is_sent_again(
        redis_proxy: CutProxy, admin: aioredis.Redis) -> None:
    wire = RedisWire(f"redis://127.0.0.1:{redis_proxy.port}/0", timeout=3.0)
    k = key()
    await admin.set(k, "kept", ex=60)
    try:
        await wire.call("PING")
        busy = asyncio.create_task(admin.eval(BUSY, 0, 400))  # Redis answers nobody meanwhile
        await asyncio.sleep(0.05)
        get = asyncio.create_task(wire.call("GET", k))
        await asyncio.sleep(0.05)  # written, unanswered
        redis_proxy.cut()  # the connection closes under the waiting GET
        redis_proxy.restore()
        assert await get == "kept"  # sent again on a new connection
        assert await busy == "slow"
    finally:
        wire.close()
        await admin.delete(k)


async def test_a_server_that_is_down_fails_promptly_and_is_found_again_when_back(
        redis_proxy: CutProxy) -> None:
    wire = RedisWire(f"redis://127.0.0.1:{redis_proxy.port}/0", timeout=3.0)
    try:
        assert await wire.call("PING") == "PONG"
        with redis_proxy.down():
            started = time.monotonic()
            with pytest.raises(RedisConnectionError):
                await wire.call("PING")
            assert time.monotonic() - started < 1.0
        assert await wire.call("PING") == "PONG"
    finally:
        wire.close()


async def test_auth_and_select_come_from_the_url(admin: aioredis.Redis) -> None:
    user, password, k = f"test-wire-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, key()
    await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    db5 = aioredis.Redis.from_url("redis://127.0.0.1:6379/5", decode_responses=True)
    wire = RedisWire(f"redis://{user}:{password}@127.0.0.1:6379/5", timeout=3.0)
    wrong = RedisWire(f"redis://{user}:not-{password}@127.0.0.1:6379/5", timeout=3.0)
    try:
        await wire.call("SET", k, "in db 5", "EX", 60)
        assert await db5.get(k) == "in db 5"
        assert await admin.get(k) is None  # not in db 0
        assert (await wire.call("ACL", "WHOAMI")) == user
        with pytest.raises(RedisConnectionError, match="WRONGPASS"):
            await wrong.call("PING")
    finally:
        wire.close()
        wrong.close()
        await db5.delete(k)
        await db5.aclose()
        await admin.execute_command("ACL", "DELUSER", user)


@pytest.fixture
def unix_redis(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    assert server, "the tests need redis-server on PATH"
    sock = tmp_path / "redis.sock"
    process = subprocess.Popen([server, "--port", "0", "--unixsocket", str(sock), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        assert sock.exists(), "redis-server did not open its socket"
        yield f"unix://{sock}?db=2"
    finally:
        process.terminate()
        process.wait(10)


async def test_a_unix_socket_url(unix_redis: str) -> None:
    wire = RedisWire(unix_redis, timeout=3.0)
    try:
        await wire.call("SET", "k", "over the socket")
        assert await wire.call("GET", "k") == "over the socket"
        info = await wire.call("CLIENT", "INFO")
        assert " db=2 " in f" {info} "
    finally:
        wire.close()


def test_the_same_under_uvloop_the_servers_event_loop() -> None:
    """`idp serve` runs on uvloop, whose transports are not asyncio's: the wire's ordering, a
    caller that gives up, a killed connection and a silent server, on uvloop's own loop."""
    import uvloop

    async def scenario() -> None:
        admin = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        wire = RedisWire(REDIS_URL, timeout=0.3)
        keys = [key() for _ in range(200)]
        try:
            await asyncio.gather(*(wire.call("SET", k, k, "EX", 60) for k in keys))
            assert await asyncio.gather(*(wire.call("GET", k) for k in keys)) == keys
            slow = asyncio.create_task(wire.call("EVAL", BUSY, 0, 150))
            await asyncio.sleep(0.02)
            get = asyncio.create_task(wire.call("GET", keys[0]))
            await asyncio.sleep(0.02)
            slow.cancel()
            assert await get == keys[0]
            first = await wire.call("CLIENT", "ID")
            assert await admin.execute_command("CLIENT", "KILL", "ID", first) == 1
            await asyncio.sleep(0.05)
            assert await wire.call("PING") == "PONG"
            with pytest.raises(RedisTimeoutError):
                await wire.call("EVAL", BUSY, 0, 600)
            await asyncio.sleep(0.6)
            assert await wire.call("GET", keys[1]) == keys[1]
        finally:
            wire.close()
            await admin.delete(*keys)
            await admin.aclose()

    uvloop.run(scenario())
