"""The background purge every replica runs (idp/db/purge.py `purge_forever`), on SQLite and
PostgreSQL: it purges on its own, records what it removed for the console, and a replica whose
settings turn it off (IDP_RETENTION_BACKGROUND=false) runs none."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db import purge
from idp.db.engine import close_engine, open_engine
from idp.db.migrate import upgrade
from idp.db.models import AuditEvent
from idp.settings import RetentionSettings
from idp.store.memory import MemoryStore
from tests.support.server import start_idp


@pytest.fixture
async def db(empty_database: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(empty_database)
    engine = open_engine(empty_database, pool_size=3)
    yield engine
    await close_engine(engine)


async def test_the_background_job_purges_and_records_its_report(
        db: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(purge, "FIRST_RUN", 0.05)  # minutes after start in a server
    now = datetime.now(UTC)
    async with db.begin() as conn:
        await conn.execute(insert(AuditEvent), [
            {"at": now - timedelta(days=days), "kind": "token", "outcome": "success",
             "actor": "m", "client_id": "m", "ip": None, "detail": {"grant": "client_credentials"}}
            for days in (40, 41, 1)])
    store = MemoryStore()
    job = asyncio.create_task(purge.purge_forever(db, RetentionSettings(), store))
    try:
        for _ in range(200):
            recorded = await store.get(purge.LAST_KEY)
            if recorded:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the background purge did not run")
        assert not job.done()  # it sleeps until the next round, it does not end
    finally:
        job.cancel()
        await store.close()
    assert json.loads(recorded)["removed"]["machine_audit"] == 2
    async with db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(AuditEvent)) == 1


async def test_a_server_starts_the_job_unless_told_not_to(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for background in (True, False):
        live = await start_idp(database_url=f"sqlite:///{tmp_path}/{background}.db",
                               keys_dir=tmp_path / "keys", directory="local", redis_url=None,
                               retention=RetentionSettings(background=background))
        try:
            running = [t for t in asyncio.all_tasks() if t.get_name() == "purge" and not t.done()]
            assert len(running) == (1 if background else 0)
        finally:
            await live.stop()
