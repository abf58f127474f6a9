"""The purge (idp/db/purge.py), on SQLite and PostgreSQL: every kind of record older than its
retention is gone, every newer one is all there, nothing a person still needs is touched; a dry
run only counts; 0 days keeps a kind forever; only one replica purges at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db.admin_models import InitialAccessToken
from idp.db.engine import close_engine, open_engine
from idp.db.migrate import upgrade
from idp.db.models import (
    AuditEvent,
    Client,
    Consent,
    IdentityDefault,
    LogoutDelivery,
    RefreshToken,
)
from idp.db.purge import ADVISORY_KEY, run_purge
from idp.settings import RetentionSettings
from idp.store.memory import MemoryStore
from tests.support.databases import postgres_database, sqlite_url
from tests.support.redis import redis_store

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
async def db(empty_database: str) -> AsyncIterator[AsyncEngine]:
    """A database of its own per test: the purge deletes by age across whole tables."""
    await upgrade(empty_database)
    engine = open_engine(empty_database, pool_size=4)
    yield engine
    await close_engine(engine)


def _audit(at: datetime, kind: str, actor: str, **detail: Any) -> dict[str, Any]:
    return {"at": at, "kind": kind, "outcome": "success", "actor": actor, "client_id": "hall",
            "ip": None, "detail": detail}


def _refresh(name: str, *, created: datetime, expires: datetime,
             revoked: datetime | None = None) -> dict[str, Any]:
    return {"digest": name, "family_id": name, "client_id": "hall", "subject": "alice",
            "scope": "openid", "amr": [], "created_at": created, "expires_at": expires,
            "revoked_at": revoked}


def _delivery(name: str, status: str, created: datetime,
              delivered: datetime | None = None) -> dict[str, Any]:
    return {"client_id": "hall", "uri": "https://hall.example.edu/logout", "subject": name,
            "status": status, "attempts": 1, "created_at": created, "delivered_at": delivered}


async def _seed(engine: AsyncEngine) -> None:
    """Rows of every kind on both sides of the default retention (RetentionSettings())."""
    async with engine.begin() as conn:
        await conn.execute(insert(Client), [{
            "client_id": "hall", "name": "Hall", "redirect_uris": [], "post_logout_redirect_uris": [],
            "grant_types": [], "response_types": [], "scopes": [], "extra": {},
            "token_endpoint_auth_method": "client_secret_basic", "created_at": ago(900),
            "updated_at": ago(900)}])
        await conn.execute(insert(AuditEvent), [
            _audit(ago(400), "login", "old-login"),
            _audit(ago(400), "admin", "old-admin", action="disable"),
            _audit(ago(40), "login", "kept-login"),  # a person's event: kept for a year
            _audit(ago(40), "token", "kept-code", grant="authorization_code"),
            _audit(ago(40), "token", "kept-nogrant"),  # no grant at all: a person's event
            _audit(ago(364), "developer", "kept-developer"),
            *[_audit(ago(31 + n / 100), "token", "old-machine", grant="client_credentials",
                     count=5) for n in range(25)],
            _audit(ago(29), "token", "kept-machine", grant="client_credentials", count=9),
        ])
        await conn.execute(insert(RefreshToken), [
            _refresh("expired-long-ago", created=ago(60), expires=ago(30)),
            _refresh("revoked-long-ago", created=ago(20), expires=ago(-10), revoked=ago(8)),
            _refresh("expired-lately", created=ago(35), expires=ago(5)),
            _refresh("revoked-lately", created=ago(20), expires=ago(-10), revoked=ago(6)),
            # created long ago but still valid: a person is using it
            _refresh("alive", created=ago(400), expires=ago(-1)),
        ])
        await conn.execute(insert(LogoutDelivery), [
            _delivery("delivered-old", "delivered", ago(9), ago(8)),
            _delivery("failed-old", "failed", ago(8)),
            _delivery("delivered-new", "delivered", ago(3), ago(3)),
            _delivery("pending-old", "pending", ago(30)),  # still to be delivered
        ])
        await conn.execute(insert(InitialAccessToken), [
            {"digest": "expired-old", "created_at": ago(10), "expires_at": ago(2),
             "revoked_at": None, "uses": 3},
            {"digest": "revoked-old", "created_at": ago(10), "expires_at": ago(-20),
             "revoked_at": ago(2), "uses": 0},
            {"digest": "expired-now", "created_at": ago(10), "expires_at": ago(0.5),
             "revoked_at": None, "uses": 0},
            {"digest": "valid", "created_at": ago(100), "expires_at": ago(-1), "revoked_at": None,
             "uses": 9},
        ])
        await conn.execute(insert(Consent), [
            {"subject": "alice", "client_id": "hall", "scopes": ["openid"], "declined": [],
             "granted_at": ago(800)},
            {"subject": "alice", "client_id": "deleted-app", "scopes": ["openid"], "declined": [],
             "granted_at": ago(5)},
            {"subject": "bob", "client_id": "deleted-app", "scopes": ["openid"], "declined": [],
             "granted_at": ago(0.1)},
        ])
        await conn.execute(insert(IdentityDefault), [
            {"subject": "alice", "client_id": "hall", "chosen": "alice", "chosen_at": ago(800)},
            {"subject": "alice", "client_id": "deleted-app", "chosen": "alice2",
             "chosen_at": ago(5)},
        ])


async def _left(engine: AsyncEngine) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        async def names(column: Any) -> list[str]:
            return sorted(str(v) for v in (await conn.scalars(select(column))).all())
        return {
            "audit": await names(AuditEvent.actor),
            "refresh": await names(RefreshToken.digest),
            "deliveries": await names(LogoutDelivery.subject),
            "iat": await names(InitialAccessToken.digest),
            "consents": await names(Consent.client_id + ":" + Consent.subject),
            "identities": await names(IdentityDefault.client_id),
        }


KEPT = {
    "audit": ["kept-code", "kept-developer", "kept-login", "kept-machine", "kept-nogrant"],
    "refresh": ["alive", "expired-lately", "revoked-lately"],
    "deliveries": ["delivered-new", "pending-old"],
    "iat": ["expired-now", "valid"],
    "consents": ["deleted-app:bob", "hall:alice"],
    "identities": ["hall"],
}


async def test_purge_removes_what_outlived_retention_and_keeps_the_rest(db: AsyncEngine) -> None:
    await _seed(db)
    # batches of 10: the 25 old machine rows take three, as a big table would take many
    report = await run_purge(db, RetentionSettings(purge_batch=10, purge_pause=0), now=NOW)
    assert not report.skipped and report.finished
    # PostgreSQL also reports whole months dropped: none here (the rows sit in the default
    # partition, the database having been made after them: tests/db/test_audit_partitions.py)
    assert report.removed.pop("audit_months", 0) == 0
    assert report.removed == {
        "audit": 2, "machine_audit": 25, "refresh_tokens": 2, "logout_deliveries": 2,
        "initial_access_tokens": 2, "consents_of_deleted_apps": 1,
        "identity_choices_of_deleted_apps": 1,
    }
    assert await _left(db) == KEPT
    again = await run_purge(db, RetentionSettings(purge_batch=10, purge_pause=0), now=NOW)
    assert set(again.removed.values()) == {0}


async def test_dry_run_counts_and_removes_nothing(db: AsyncEngine) -> None:
    await _seed(db)
    before = await _left(db)
    report = await run_purge(db, RetentionSettings(), dry_run=True, now=NOW)
    assert report.dry_run and report.removed["machine_audit"] == 25
    assert report.removed["refresh_tokens"] == 2
    assert await _left(db) == before


async def test_zero_keeps_a_kind_forever_and_older_than_overrides_the_rest(db: AsyncEngine) -> None:
    await _seed(db)
    retention = RetentionSettings(audit_days=0, machine_audit_days=0, purge_pause=0)
    report = await run_purge(db, retention, older_than=3, now=NOW)
    assert report.cutoffs["audit"] is None and report.cutoffs["machine_audit"] is None
    assert "audit" not in report.removed and "machine_audit" not in report.removed
    left = await _left(db)
    assert len(left["audit"]) == 32  # every audit event, however old
    # three days instead of seven: the refresh tokens that ended 5 and 6 days ago go too
    assert left["refresh"] == ["alive"]
    assert left["deliveries"] == ["delivered-new", "pending-old"]  # 3 days ago: not older


@pytest.fixture
async def postgres() -> AsyncIterator[AsyncEngine]:
    async with postgres_database() as url:
        await upgrade(url)
        engine = open_engine(url, pool_size=4)
        yield engine
        await close_engine(engine)


async def test_purge_waits_for_no_row_a_request_holds(postgres: AsyncEngine) -> None:
    """PostgreSQL (SQLite has no row locks): a row locked by an open transaction is skipped,
    not waited for; the next purge takes it."""
    db = postgres
    await _seed(db)
    async with db.connect() as holder:
        await holder.execute(select(RefreshToken).where(RefreshToken.digest == "expired-long-ago")
                             .with_for_update())
        report = await asyncio.wait_for(run_purge(db, RetentionSettings(), now=NOW), 10)
        await holder.rollback()
    assert report.removed["refresh_tokens"] == 1
    assert "expired-long-ago" in (await _left(db))["refresh"]
    later = await run_purge(db, RetentionSettings(), now=NOW)
    assert later.removed["refresh_tokens"] == 1
    assert (await _left(db))["refresh"] == KEPT["refresh"]


async def test_two_replicas_never_purge_at_once(empty_database: str) -> None:
    """Two purgers, each with its own engine as two replicas have: on PostgreSQL the advisory
    lock lets one purge and the other skip; elsewhere the Store's lease does the same."""
    await upgrade(empty_database)
    first, second = open_engine(empty_database), open_engine(empty_database)
    store = MemoryStore()
    try:
        async with first.begin() as conn:
            await conn.execute(insert(AuditEvent), [
                _audit(ago(40), "token", "machine", grant="client_credentials")
                for _ in range(60)])
        slow = RetentionSettings(purge_batch=10, purge_pause=0.2)  # six batches, a second long
        one = asyncio.create_task(run_purge(first, slow, store=store, now=NOW))
        await asyncio.sleep(0.3)
        other = await run_purge(second, slow, store=store, now=NOW)
        done = await one
        assert other.skipped and other.removed == {}
        assert not done.skipped and done.removed["machine_audit"] == 60
        after = await run_purge(second, slow, store=store, now=NOW)  # the lock was let go
        assert not after.skipped
        if first.dialect.name == "postgresql":
            async with first.connect() as conn:  # and no advisory lock is left behind
                got = await conn.scalar(select(func.pg_try_advisory_lock(ADVISORY_KEY)))
                assert got is True
                await conn.scalar(select(func.pg_advisory_unlock(ADVISORY_KEY)))
    finally:
        await close_engine(first)
        await close_engine(second)
        await store.close()


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_store_lease_lets_one_purger_in(tmp_path: Any, backend: str) -> None:
    """SQLite (one process, or a purge by hand beside it): the Store's lease."""
    url = sqlite_url(tmp_path)
    await upgrade(url)
    engine = open_engine(url)

    async def both(store: Any) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(AuditEvent), [
                _audit(ago(40), "token", "machine", grant="client_credentials")
                for _ in range(30)])
        slow = RetentionSettings(purge_batch=10, purge_pause=0.2)
        one = asyncio.create_task(run_purge(engine, slow, store=store, now=NOW))
        await asyncio.sleep(0.1)
        assert (await run_purge(engine, slow, store=store, now=NOW)).skipped
        assert (await one).removed["machine_audit"] == 30
        assert not (await run_purge(engine, slow, store=store, now=NOW)).skipped

    try:
        if backend == "memory":
            store = MemoryStore()
            await both(store)
            await store.close()
        else:
            async with redis_store() as redis:
                await both(redis)
    finally:
        await close_engine(engine)
