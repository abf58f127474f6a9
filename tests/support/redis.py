"""A RedisStore on the real Redis at 127.0.0.1:6379, under a key prefix of its own.

Every store gets a unique prefix (`test-<hex>:`) so parallel test runs and the developer's own
data never collide, and every key under that prefix is deleted when the block ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

from idp.store import StoreUnavailable
from idp.store.redis import RedisStore

REDIS_URL = "redis://127.0.0.1:6379/0"


def unique_prefix() -> str:
    return f"test-{uuid4().hex[:8]}:"


@asynccontextmanager
async def redis_store(
    url: str = REDIS_URL, *, prefix: str | None = None
) -> AsyncIterator[RedisStore]:
    """Yield a RedisStore with a unique key prefix; fail loudly when Redis is not running."""
    store = RedisStore(url, prefix=prefix or unique_prefix())
    try:
        await store.ping()
    except StoreUnavailable as exc:
        await store.close()
        raise RuntimeError(f"the tests need a running Redis at {url}: {exc}") from exc
    try:
        yield store
    finally:
        try:
            leftovers = await store.keys("")
            if leftovers:
                await store.delete(*leftovers)
        finally:
            await store.close()
