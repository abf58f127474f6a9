"""A purge of a large backlog while people sign in, on PostgreSQL as deployed: every sign-in
and every token request succeeds while the purge deletes in its batches, and the purge removes
the whole backlog all the same (it rests between batches and waits for no row a request holds)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from idp.db.models import AuditEvent
from idp.db.purge import run_purge
from idp.settings import RetentionSettings
from tests.oauth.flow import Browser, register
from tests.support.databases import postgres_database
from tests.support.server import LiveIdp, start_idp

BACKLOG = 40_000


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveIdp]:
    async with postgres_database() as url:
        # one person signs in ten times at once: the throttle counts attempts in flight
        server = await start_idp(database_url=url, redis_url=None, directory="local", seed=True,
                                 keys_dir=tmp_path / "keys", throttle={"per_account": 1000})
        try:
            yield server
        finally:
            await server.stop()


async def _backlog(live: LiveIdp) -> None:
    """Machine-token audit rows of two months ago, as a year of them would be."""
    async with live.services.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO audit_events (at, kind, outcome, actor, client_id, ip, detail) "
            "SELECT now() - interval '60 days' + n * interval '1 second', 'token', 'success', "
            "'platform', 'platform', NULL, '{\"grant\": \"client_credentials\"}'::json "
            "FROM generate_series(1, :rows) AS n"), {"rows": BACKLOG})


async def test_sign_ins_all_succeed_while_the_purge_runs(live: LiveIdp) -> None:
    await _backlog(live)
    app = await register(live, skip_consent=True)
    machine = await register(live, grant_types=["client_credentials"], redirect_uris=[],
                             scopes=["api.read"])
    retention = RetentionSettings(purge_batch=500, purge_pause=0.02)
    purging = asyncio.create_task(run_purge(live.services.engine, retention))

    async def sign_in() -> None:
        person = Browser.open(live)
        try:
            code, _ = await person.code(app, scope="openid")
            assert code
        finally:
            await person.close()

    async def machine_token() -> int:
        async with live.client() as http:
            response = await http.post("/token", auth=machine.basic, data={
                "grant_type": "client_credentials", "scope": "api.read"})
            return response.status_code

    await asyncio.sleep(0.2)  # the purge is in its batches
    assert not purging.done()
    for _ in range(4):
        results = await asyncio.gather(*[sign_in() for _ in range(10)],
                                       *[machine_token() for _ in range(20)])
        assert [r for r in results if r is not None] == [200] * 20
    report = await purging
    assert report.finished and report.removed["machine_audit"] == BACKLOG
    async with live.services.db() as db:
        logins = await db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.kind == "login", AuditEvent.outcome == "success"))
        left = await db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.actor == "platform"))
    assert logins == 40 and left == 0
