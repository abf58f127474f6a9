"""Exponential backoff: each refusal period in a row is twice the last; a right password resets
the account. Per address: failures across many accounts (a spray) are refused the same way, and
successes from a shared (NAT) address never count against it. Admins list and clear throttles."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from idp.settings import ThrottleSettings
from tests.security.conftest import LOCAL_THROTTLE, WINDOW
from tests.security.support import start_server
from tests.support.redis import REDIS_URL, unique_prefix
from tests.support.server import LiveIdp
from tests.web.conftest import browser, fresh_ip, start_login, submit_login

ROOT = Path(__file__).parents[2]


async def _attempt(live: LiveIdp, username: str, password: str, *, ip: str | None = None
                   ) -> tuple[int, int | None]:
    interaction = await start_login(live, ui_locales="en")
    async with browser(live, ip=ip) as client:
        response = await submit_login(client, interaction, username, password)
    retry = response.headers.get("retry-after")
    return response.status_code, int(retry) if retry else None


async def _new_person(live: LiveIdp) -> str:
    username = f"backoff-{secrets.token_hex(4)}"
    await live.services.directory.create_person(username, "Right-password-1", name="Back Off")
    return username


async def test_each_refusal_in_a_row_doubles(local_idp: LiveIdp) -> None:
    username = await _new_person(local_idp)
    budget = LOCAL_THROTTLE.per_account
    periods = []
    for _round in range(2):
        if periods:
            await asyncio.sleep(periods[-1] + 0.3)
        answers = [await _attempt(local_idp, username, "wrong") for _ in range(budget)]
        assert [status for status, _ in answers] == [401] * budget
        status, retry_after = await _attempt(local_idp, username, "wrong")
        assert status == 429 and retry_after is not None
        periods.append(retry_after)
    assert periods == [WINDOW, 2 * WINDOW]


async def test_a_right_password_resets_the_doubling(local_idp: LiveIdp) -> None:
    username = await _new_person(local_idp)
    for _ in range(LOCAL_THROTTLE.per_account):
        await _attempt(local_idp, username, "wrong")
    status, first = await _attempt(local_idp, username, "wrong")
    assert (status, first) == (429, WINDOW)
    await asyncio.sleep(WINDOW + 0.3)
    assert (await _attempt(local_idp, username, "Right-password-1"))[0] == 303
    for _ in range(LOCAL_THROTTLE.per_account):
        assert (await _attempt(local_idp, username, "wrong"))[0] == 401
    assert await _attempt(local_idp, username, "wrong") == (429, WINDOW)  # not 2 * WINDOW


async def test_a_spraying_address_is_refused_and_backs_off(local_idp: LiveIdp) -> None:
    ip = fresh_ip()
    for n in range(LOCAL_THROTTLE.per_ip):
        assert (await _attempt(local_idp, f"spray-{n}-{ip}", "Summer2024!", ip=ip))[0] == 401
    status, retry_after = await _attempt(local_idp, "student", "student123", ip=ip)
    assert (status, retry_after) == (429, WINDOW)
    assert (await _attempt(local_idp, "student", "student123"))[0] == 303  # elsewhere: fine


async def test_successes_from_one_address_never_count(local_idp: LiveIdp) -> None:
    ip = fresh_ip()  # a campus NAT: many people, one address
    for _ in range(LOCAL_THROTTLE.per_ip + 3):
        assert (await _attempt(local_idp, "teacher", "teacher123", ip=ip))[0] == 303


def _idp(live: LiveIdp, *args: str) -> subprocess.CompletedProcess[str]:
    """`idp throttles …` in a process of its own, against the server's Redis."""
    env = {**os.environ, "IDP_REDIS_URL": live.settings.redis_url or "",
           "IDP_REDIS_PREFIX": live.settings.redis_prefix, "IDP_DATABASE_URL": "sqlite:///:memory:"}
    program = "import sys; from idp.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", program, "throttles", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
async def redis_idp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    """The embedded directory on Redis, with a window long enough for a few CLI runs."""
    live = await start_server(tmp_path_factory.mktemp("redis-idp"), directory="local",
                              throttle=ThrottleSettings(window=120, per_ip=1000),
                              redis_url=REDIS_URL, redis_prefix=unique_prefix())
    yield live
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()


async def test_admins_list_and_clear_throttles(redis_idp: LiveIdp) -> None:
    username, ip = await _new_person(redis_idp), fresh_ip()
    for _ in range(6):
        await _attempt(redis_idp, username.upper(), "wrong", ip=ip)
    listed = await asyncio.to_thread(_idp, redis_idp, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)}
    # typed in capitals, listed as the directory spells the entry the attempts counted against
    account = records[("account", username)]
    assert account["blocked_for"] is not None and account["strikes"] == 1
    assert account["count"] == 6  # five wrong passwords and the refused sixth attempt
    assert records[("ip", ip)] == {"kind": "ip", "name": ip, "count": 5, "blocked_for": None,
                                   "strikes": 0}
    only = await asyncio.to_thread(_idp, redis_idp, "list", "--account", f" {username} ")
    assert username in only.stdout and "refused for" in only.stdout and ip not in only.stdout

    cleared = await asyncio.to_thread(_idp, redis_idp, "clear", "--account", username.upper())
    assert cleared.returncode == 0 and "cleared 4" in cleared.stdout, cleared.stdout
    assert (await _attempt(redis_idp, username, "Right-password-1"))[0] == 303  # at once
    refused = await asyncio.to_thread(_idp, redis_idp, "clear")
    assert refused.returncode != 0 and "--account, --ip or --all" in refused.stderr
