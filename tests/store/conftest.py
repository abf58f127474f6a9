"""The `store` fixture: every test in tests/store runs once per Store backend: in-process, Redis,
and Redis behind Sentinel (a primary, a replica and three sentinels of this session's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from idp.store import Store
from idp.store.memory import MemoryStore
from tests.support.redis import redis_store
from tests.support.sentinel import SentinelTopology


@pytest.fixture(scope="session")
def sentinel_topology() -> Iterator[SentinelTopology]:
    with SentinelTopology() as topology:
        yield topology


@pytest.fixture(params=["memory", "redis", "sentinel"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        memory = MemoryStore()
        yield memory
        await memory.close()
        return
    if request.param == "sentinel":
        topology: SentinelTopology = request.getfixturevalue("sentinel_topology")
        async with redis_store(topology.url) as redis:
            yield redis
        return
    async with redis_store() as redis:
        yield redis
