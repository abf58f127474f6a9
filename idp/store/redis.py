"""The production store: Redis, shared by every replica; alone, or behind Sentinel.

Behind Sentinel (IDP_REDIS_URL=redis+sentinel://…, idp/settings.py SentinelUrl), every new
connection asks the sentinels where the primary is (redis-py's SentinelConnectionPool). When the
primary dies, its connections fail and new ones are refused until the sentinels have promoted a
replica: those requests get the error policy's 503, none hangs, and the first connection after
the promotion reaches the new primary. A connection still open to an old primary that came back
as a replica answers READONLY, which redis-py turns into a reconnect through the sentinels.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import NoScriptError, RedisError

from idp.settings import SENTINEL_SCHEME, parse_sentinel_url
from idp.store.background import STOP_WITHIN, cancelled_meanwhile, stop
from idp.store.base import LogEntry, LogGap, StoreUnavailable
from idp.store.redis_wire import RedisWire, plain_url

T = TypeVar("T")
log = logging.getLogger("idp.store")

# INCRBY then EXPIRE only when the increment created the key, in one round trip and atomically
_INCR_WITH_TTL = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# GETDEL the item; if it was there, SET the trace (with its TTL) and answer {value, false};
# otherwise answer {false, the trace already there}: one round trip, atomic
_TAKE_LEAVING = """
local value = redis.call('GETDEL', KEYS[1])
if value then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
  return {value, false}
end
return {false, redis.call('GET', KEYS[2])}
"""

# KEYS: the ARGV[1] blockers, the counter, then (only when given) the `first` key. The first
# blocker that exists answers {0, its TTL}; otherwise INCR the counter (EXPIRE when created)
# and, on a count of 1, SET the `first` key
_INCR_UNLESS = """
local blockers = tonumber(ARGV[1])
for i = 1, blockers do
  local left = redis.call('TTL', KEYS[i])
  if left ~= -2 then return {0, math.max(left, 1)} end
end
local counter = KEYS[blockers + 1]
local n = redis.call('INCR', counter)
if n == 1 then
  redis.call('EXPIRE', counter, ARGV[2])
  if KEYS[blockers + 2] then redis.call('SET', KEYS[blockers + 2], ARGV[3], 'EX', ARGV[4]) end
end
return {n, 0}
"""

# SADD then EXPIRE in one round trip (a MULTI pipeline costs four commands and more Python)
_SET_ADD_WITH_TTL = """
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('EXPIRE', KEYS[1], ARGV[2])
"""

# KEYS: ARGV[1] keys to SET, then the sets; ARGV: the count, then per SET its value and TTL, then
# per set its member and TTL. Several writes in one round trip
_WRITE_MANY = """
local puts = tonumber(ARGV[1])
for i = 1, puts do
  redis.call('SET', KEYS[i], ARGV[2 * i], 'EX', ARGV[2 * i + 1])
end
for i = puts + 1, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[2 * i])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * i + 1])
end
return #KEYS
"""
# SET the key, and append (key, value, ttl) to the change log (a stream, trimmed to about
# ARGV[4] entries), atomically: whoever follows the log sees every change of such a key
_PUT_LOGGED = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'k', ARGV[3], 'v', ARGV[1], 't', ARGV[2])
return 1
"""
# entries of the change log kept: far more than a replica could miss between two reads
LOG_LENGTH = 50_000
LOG_KEY = "change-log"

# RPUSH a signal, (re)start the list's TTL, and tell every process listening on the prefix's
# channel (KEYS[2]) which key it was, in one round trip
_SIGNAL = """
redis.call('RPUSH', KEYS[1], '1')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('PUBLISH', KEYS[2], KEYS[1])
"""
SIGNAL_CHANNEL = "signals"


class _Script:
    """A Lua script, run by its SHA-1 (EVALSHA) and loaded again when the server has lost it
    (a restart, SCRIPT FLUSH). redis-py's Script does the same, but tests every call with an
    isinstance() against its Pipeline protocol class, which costs more than the command."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


# seconds to connect, and for a reply: slower than this, Redis is in trouble and the request a 503
SOCKET_TIMEOUT = 3.0
# connections of one process's pool (redis-py's default cap); more concurrent commands queue
POOL_CONNECTIONS = 100
# a wait looks at its key at least this often even when no message woke it (a message lost
# while the listener reconnected), and an XREAD blocks in slices shorter than SOCKET_TIMEOUT, so
# its silent wait is never mistaken for a dead server
WAIT_SLICE = 2.0
# behind redis-py's pool (TLS, Sentinel): pooled connections the waits of one process use at once
# to take their signals (on the pipelined wire they share its one connection, and need no bound)
WAIT_CONNECTIONS = 4
# the listener's pause before it subscribes again after losing its connection
LISTEN_RETRY = (0.05, 1.0)


def _retry() -> Retry:
    """A command that failed on its connection (the server restarted, the primary moved, an
    idle connection was dropped) is sent again on a fresh one, at most three times within about
    half a second: enough to ride over a reconnect, short enough that an outage is a prompt 503,
    not a request held for the whole outage."""
    return Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.25), 3)


def open_redis(url: str) -> tuple[aioredis.Redis, Sentinel | None]:
    """The client for IDP_REDIS_URL, and the Sentinel it asks for the primary (if any)."""
    options: dict[str, Any] = {"socket_timeout": SOCKET_TIMEOUT,
                               "socket_connect_timeout": SOCKET_TIMEOUT}
    if url.partition("://")[0].lower() != SENTINEL_SCHEME:
        # a burst of more commands than the pool has connections (a thousand QR pages polling
        # at once on one worker) waits for a free connection, up to SOCKET_TIMEOUT, instead of
        # failing at once with "Too many connections" as redis-py's default pool does
        pool = BlockingConnectionPool.from_url(
            url, max_connections=POOL_CONNECTIONS, timeout=SOCKET_TIMEOUT, decode_responses=True,
            health_check_interval=30, retry=_retry(), **options)
        return aioredis.Redis.from_pool(pool), None
    target = parse_sentinel_url(url)
    # the sentinels get their own credentials and no retry of their own: redis-py already asks
    # the next sentinel when one fails
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs={
        **options, "username": target.sentinel_username, "password": target.sentinel_password})
    client = sentinel.master_for(
        target.service, db=target.db, username=target.username, password=target.password,
        decode_responses=True, health_check_interval=30, retry=_retry(), **options)
    return client, sentinel


def _glob_escape(text: str) -> str:
    """Make a literal for SCAN MATCH: usernames in keys may hold `*`, `?`, `[` or `\\`."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class _Listener:
    """One pub/sub connection per RedisStore that hears every signal on the prefix's channel
    and wakes the waits of this process on that key; the waits then take the signal itself
    (LPOP) over the command wire (behind redis-py's pool, a few at a time). A wait thus holds no
    connection of its own: ten thousand waiting long polls cost one subscription, not ten
    thousand connections.

    Started by the first wait, it runs until the store closes and subscribes again by itself
    after losing its connection (an outage, a failover); each time it is subscribed anew, every
    wait looks at its key at once, in case a signal came while nobody listened."""

    def __init__(self, redis: aioredis.Redis, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self.waiters: dict[str, set[asyncio.Future[None]]] = {}
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="redis signal listener")

    def register(self, key: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(key, set()).add(future)
        return future

    def unregister(self, key: str, future: asyncio.Future[None]) -> None:
        futures = self.waiters.get(key)
        if futures is not None:
            futures.discard(future)
            if not futures:
                del self.waiters[key]

    def _wake(self, key: str | None) -> None:
        """Every wait on `key` (on every key with None): each tries to take the signal, one
        gets it, the others wait on."""
        keys = list(self.waiters) if key is None else [key]
        for each in keys:
            for future in self.waiters.get(each, ()):
                if not future.done():
                    future.set_result(None)

    async def _run(self) -> None:
        pause = LISTEN_RETRY[0]
        while not cancelled_meanwhile():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while not cancelled_meanwhile():
                    message = await pubsub.get_message(timeout=WAIT_SLICE)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.subscribed.set()
                        pause = LISTEN_RETRY[0]
                        self._wake(None)
                    elif message["type"] == "message":
                        self._wake(message["data"])
            except (RedisError, OSError):
                pass
            finally:
                self.subscribed.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, LISTEN_RETRY[1])

    async def close(self) -> None:
        task, self._task = self._task, None
        await stop(task)


class _ClientWire:
    """RedisWire's `call` through redis-py's client: for TLS and Sentinel, where redis-py
    finds the server (and the primary) and speaks TLS."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def call(self, *args: Any) -> Any:
        return await self._redis.execute_command(*args)

    def close(self) -> None:
        pass  # the client is closed with the store


def command_wire(url: str, redis: aioredis.Redis) -> RedisWire | _ClientWire:
    """What carries the store's short commands: the pipelined wire for a plain server,
    redis-py's client otherwise (idp/store/redis_wire.py)."""
    if plain_url(url):
        return RedisWire(url, timeout=SOCKET_TIMEOUT)
    return _ClientWire(redis)


class RedisStore:
    name = "redis"
    shared = True

    def __init__(self, url: str, *, prefix: str = "idp:") -> None:
        self._redis, self._sentinel = open_redis(url)
        # short commands go over one pipelined connection; redis-py's pool keeps the blocking
        # reads, the subscription, SCAN and the snapshot's pipelines
        self._wire = command_wire(url, self._redis)
        self._prefix = prefix
        self._incr = _Script(_INCR_WITH_TTL)
        self._take_leaving = _Script(_TAKE_LEAVING)
        self._set_add = _Script(_SET_ADD_WITH_TTL)
        self._incr_unless = _Script(_INCR_UNLESS)
        self._signal = _Script(_SIGNAL)
        self._write_many = _Script(_WRITE_MANY)
        self._put_logged = _Script(_PUT_LOGGED)
        self._channel = self._k(SIGNAL_CHANNEL)
        self._listener = _Listener(self._redis, self._channel)
        self._takers = None if isinstance(self._wire, RedisWire) \
            else asyncio.Semaphore(WAIT_CONNECTIONS)

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await op()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def _eval(self, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        call = self._wire.call

        async def op() -> Any:
            try:
                return await call("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                await call("SCRIPT", "LOAD", script.text)
                return await call("EVALSHA", script.sha, len(keys), *keys, *args)

        return await self._call(op)

    async def get(self, key: str) -> str | None:
        return await self._call(lambda: self._wire.call("GET", self._k(key)))

    async def get_many(self, *keys: str) -> list[str | None]:
        # the command itself: redis-py's mget() wrapper adds a few µs to every call on the hot path
        return list(await self._call(
            lambda: self._wire.call("MGET", *(self._k(k) for k in keys))))

    async def put(self, key: str, value: str, ttl: int) -> None:
        await self._call(lambda: self._wire.call("SET", self._k(key), value, "EX", ttl))

    async def write_many(self, puts: Sequence[tuple[str, str, int]],
                         members: Sequence[tuple[str, str, int]] = ()) -> None:
        if len(puts) + len(members) == 1:
            if puts:
                await self.put(*puts[0])
            else:
                await self.set_add(*members[0])
            return
        keys: list[str] = []
        args: list[str | int] = [len(puts)]
        for key, value, ttl in (*puts, *members):
            keys.append(self._k(key))
            args += [value, ttl]
        if keys:
            await self._eval(self._write_many, keys, args)

    async def add(self, key: str, value: str, ttl: int) -> bool:
        return await self._call(
            lambda: self._wire.call("SET", self._k(key), value, "EX", ttl, "NX")) is not None

    async def take(self, key: str) -> str | None:
        return await self._call(lambda: self._wire.call("GETDEL", self._k(key)))

    async def take_leaving(self, key: str, trace_key: str, trace: str,
                           ttl: int) -> tuple[str | None, str | None]:
        value, found = await self._eval(self._take_leaving, [self._k(key), self._k(trace_key)],
                                        [trace, ttl])
        return value or None, found or None

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._call(lambda: self._wire.call("DEL", *(self._k(k) for k in keys))))

    async def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        return int(await self._eval(self._incr, [self._k(key)], [ttl, amount]))

    async def incr_unless(self, key: str, ttl: int, blockers: tuple[str, ...],
                          first: tuple[str, str, int] | None = None) -> tuple[int, int]:
        keys = [*(self._k(k) for k in blockers), self._k(key)]
        args: list[str | int] = [len(blockers), ttl]
        if first is not None:
            keys.append(self._k(first[0]))
            args += [first[1], first[2]]
        count, left = await self._eval(self._incr_unless, keys, args)
        return int(count), int(left)

    async def ttl(self, key: str) -> int | None:
        left = await self._call(lambda: self._wire.call("TTL", self._k(key)))
        return None if left < 0 else int(left)

    async def set_add(self, key: str, member: str, ttl: int) -> None:
        await self._eval(self._set_add, [self._k(key)], [member, ttl])

    async def set_remove(self, key: str, member: str) -> None:
        await self._call(lambda: self._wire.call("SREM", self._k(key), member))

    async def set_members(self, key: str) -> set[str]:
        return set(await self._call(lambda: self._wire.call("SMEMBERS", self._k(key))))

    async def signal(self, key: str, ttl: int) -> None:
        await self._eval(self._signal, [self._k(key), self._channel], [ttl])

    async def wait(self, key: str, seconds: float) -> bool:
        # the signal is a list item (a signal sent before the wait is still there) and a message
        # on the prefix's channel (which wakes the waits at once, through one listener per
        # process): no wait holds a connection of its own while it waits
        deadline = time.monotonic() + seconds
        full = self._k(key)
        listener = self._listener
        listener.start()
        woken = listener.register(full)  # before the first look: no message is missed
        try:
            if await self._take_signal(full, deadline):
                return True
            if not listener.subscribed.is_set():
                # the first wait of this process: the listener hears nothing before it is
                # subscribed, so look again once it is (or after a slice at most)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener.subscribed.wait(),
                                           min(deadline - time.monotonic(), WAIT_SLICE))
                if await self._take_signal(full, deadline):
                    return True
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                # a wake-up, or a slice without one (a message lost while the listener
                # reconnected): either way look at the key again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(woken), min(left, WAIT_SLICE))
                if woken.done():
                    listener.unregister(full, woken)
                    woken = listener.register(full)  # before the look, as above
                if await self._take_signal(full, deadline):
                    return True
        finally:
            listener.unregister(full, woken)

    async def _take_signal(self, full_key: str, deadline: float) -> bool:
        """LPOP one signal over the command wire; behind redis-py's pool, a few waits at a time,
        and False, without looking, when no connection is free before the deadline."""
        if self._takers is None:
            return await self._call(lambda: self._wire.call("LPOP", full_key)) is not None
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                await self._takers.acquire()
        except TimeoutError:
            return False
        try:
            return await self._call(lambda: self._wire.call("LPOP", full_key)) is not None
        finally:
            self._takers.release()

    async def keys(self, prefix: str) -> list[str]:
        async def op() -> list[str]:
            pattern = _glob_escape(self._k(prefix)) + "*"
            found = [k async for k in self._redis.scan_iter(match=pattern, count=500)]
            return sorted(k[len(self._prefix):] for k in found)

        return await self._call(op)

    async def put_logged(self, key: str, value: str, ttl: int) -> None:
        await self._eval(self._put_logged, [self._k(key), self._k(LOG_KEY)],
                         [value, ttl, key, LOG_LENGTH])

    async def log_position(self) -> str:
        last = await self._call(lambda: self._redis.xrevrange(self._k(LOG_KEY), count=1))
        return str(last[0][0]) if last else "0-0"

    async def read_log(self, after: str, wait: float) -> tuple[list[LogEntry], str]:
        stream = self._k(LOG_KEY)
        block = max(10, int(min(wait, WAIT_SLICE) * 1000))
        got = await self._call(lambda: self._redis.xread({stream: after}, count=1000,
                                                         block=block))
        await self._check_no_gap(stream, after)
        entries: list[LogEntry] = []
        for _, messages in got or ():
            for message_id, fields in messages:
                entries.append((fields["k"], fields["v"], int(fields["t"])))
                after = str(message_id)
        return entries, after

    async def _check_no_gap(self, stream: str, after: str) -> None:
        """LogGap when an entry later than `after` may be gone. The log is trimmed oldest
        first, so that happened exactly when the entry `after` itself is gone (the follower read
        it, so it was there); a log that is gone altogether (a Redis that restarted empty)
        holds it no longer either. From the very start ("0-0"), any entry trimmed is a gap."""
        if after != "0-0":
            kept = await self._call(lambda: self._redis.xrange(stream, after, after, count=1))
            if not kept:
                raise LogGap(f"the change log no longer holds {after}")
            return
        try:
            info = await self._call(lambda: self._redis.xinfo_stream(stream))
        except StoreUnavailable as exc:
            if "no such key" in str(exc).lower():
                return  # nothing was ever logged
            raise
        if int(info.get("entries-added", 0)) > int(info.get("length", 0)):
            raise LogGap("the change log was trimmed before it was first read")

    async def snapshot(self, prefix: str) -> dict[str, tuple[str, int]]:
        keys = await self.keys(prefix)
        found: dict[str, tuple[str, int]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]

            async def op(chunk: list[str] = chunk) -> list[Any]:
                pipe = self._redis.pipeline(transaction=False)
                for key in chunk:
                    pipe.get(self._k(key))
                    pipe.ttl(self._k(key))
                return list(await pipe.execute())

            answers = await self._call(op)
            for index, key in enumerate(chunk):
                value, left = answers[2 * index], answers[2 * index + 1]
                if value is not None and left is not None and left > 0:
                    found[key] = (value, int(left))
        return found

    async def ping(self) -> None:
        await self._call(lambda: self._wire.call("PING"))

    async def close(self) -> None:
        await self._listener.close()
        self._wire.close()
        # bounded as the listener's stop is: a pool connection stuck mid-read must not keep a
        # process from exiting
        try:
            async with asyncio.timeout(STOP_WITHIN):
                await self._redis.aclose()
                if self._sentinel is not None:
                    await self._sentinel.aclose()
        except TimeoutError:
            log.warning("redis: the connection pool did not close within %.0f s", STOP_WITHIN)
