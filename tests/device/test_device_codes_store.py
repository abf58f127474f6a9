"""The device authorizations' Store contract (idp/protocols/oidc/device_codes.py), run on the
in-process store and on Redis: user codes unique and found whatever the case or hyphens, the
first decision the only one, the polling pace, and an answer heard once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from idp.protocols.oidc.device_codes import (
    USER_CODE_ALPHABET,
    DeviceCodes,
    normalize_user_code,
)
from idp.protocols.oidc.models import StoredCode
from idp.settings import DeviceSettings
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


def codes_on(store: Store, *, interval: int = 5) -> DeviceCodes:
    return DeviceCodes(store, DeviceSettings(code_ttl=600, interval=interval))


def grant(subject: str = "s-1") -> StoredCode:
    return StoredCode(client_id="tv", subject=subject, redirect_uri=None, scope="openid",
                      issued_at=1, auth_time=1, amr=["pwd"], sid="sid-1")


async def test_issue_and_find_by_user_code(store: Store) -> None:
    codes = codes_on(store)
    issued = await codes.issue("tv", "openid", ip="10.0.0.9")
    assert len(issued.user_code) == 8 and set(issued.user_code) <= set(USER_CODE_ALPHABET)
    typed = f"{issued.user_code[:4].lower()}-{issued.user_code[4:]}"
    found = await codes.by_user_code(normalize_user_code(typed) or "")
    assert found is not None
    digest, record = found
    assert record.client_id == "tv" and record.ip == "10.0.0.9" and record.status == "pending"
    assert await codes.by_user_code("BBBBBBBB") is None


async def test_user_codes_of_live_authorizations_differ(store: Store) -> None:
    codes = codes_on(store)
    issued = await asyncio.gather(*(codes.issue("tv", "", ip=None) for _ in range(50)))
    assert len({item.user_code for item in issued}) == 50
    assert len({item.device_code for item in issued}) == 50


async def test_the_first_decision_is_the_only_one(store: Store) -> None:
    codes = codes_on(store)
    issued = await codes.issue("tv", "openid", ip=None)
    digest = (await codes.by_user_code(issued.user_code) or ("", None))[0]
    results = await asyncio.gather(codes.decide(digest, grant=grant()),
                                   codes.decide(digest, grant=None))
    assert sum(result is not None for result in results) == 1
    # decided: the user code finds nothing any more
    assert await codes.by_user_code(issued.user_code) is None


async def test_polling_pace_and_slow_down(store: Store) -> None:
    codes = codes_on(store, interval=2)
    issued = await codes.issue("tv", "openid", ip=None)
    first = await codes.poll(issued.device_code, "tv")
    assert (first.outcome, first.interval) == ("pending", 2)
    assert [(p.outcome, p.interval) for p in [await codes.poll(issued.device_code, "tv"),
                                               await codes.poll(issued.device_code, "tv")]] == \
        [("slow_down", 7), ("slow_down", 12)]
    await asyncio.sleep(1.2)  # the guard lives interval - 1 seconds
    later = await codes.poll(issued.device_code, "tv")
    assert (later.outcome, later.interval) == ("pending", 12)


async def test_approved_is_heard_once_and_only_by_its_client(store: Store) -> None:
    codes = codes_on(store)
    issued = await codes.issue("tv", "openid", ip=None)
    digest = (await codes.by_user_code(issued.user_code) or ("", None))[0]
    assert await codes.decide(digest, grant=grant("s-42")) is not None
    assert (await codes.poll(issued.device_code, "other-client")).outcome == "unknown"
    polls = await asyncio.gather(*(codes.poll(issued.device_code, "tv") for _ in range(5)))
    approved = [p for p in polls if p.outcome == "approved"]
    assert len(approved) == 1 and [p.outcome for p in polls].count("unknown") == 4
    assert approved[0].record is not None
    assert approved[0].record.stored_code().subject == "s-42"


async def test_denied_is_heard_once(store: Store) -> None:
    codes = codes_on(store)
    issued = await codes.issue("tv", "openid", ip=None)
    digest = (await codes.by_user_code(issued.user_code) or ("", None))[0]
    await codes.decide(digest, grant=None)
    assert (await codes.poll(issued.device_code, "tv")).outcome == "denied"
    assert (await codes.poll(issued.device_code, "tv")).outcome == "unknown"


async def test_garbage_device_codes(store: Store) -> None:
    codes = codes_on(store)
    for value in ("", "x" * 500, "nope"):
        assert (await codes.poll(value, "tv")).outcome == "unknown"
