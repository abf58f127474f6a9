"""The `store` fixture: every test in tests/store runs once per Store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from idp.store import Store
from idp.store.memory import MemoryStore
from tests.support.redis import redis_store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        memory = MemoryStore()
        yield memory
        await memory.close()
        return
    async with redis_store() as redis:
        yield redis
