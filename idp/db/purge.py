"""The purge: deletes what has outlived its retention (idp/db/retention.py), without getting in
the way of logins.

- One replica at a time. On PostgreSQL a session advisory lock, taken with pg_try_advisory_lock
  on a connection of its own (in autocommit, so it holds no snapshot): a replica that does not
  get it skips this round. Elsewhere (SQLite, which serves one process) the Store's lock: a key
  added only if absent, with a lease that outlives one run.
- Small batches, each its own short transaction: `SELECT key … LIMIT n` with FOR UPDATE SKIP
  LOCKED on PostgreSQL, then `DELETE … WHERE key IN (those keys)` (a list of keys, looked up by
  index in a large table), so the purge never waits for a row a request holds (it takes it
  next time), and a request waits at most one batch for a row the purge holds. It rests
  between batches, and stops after RUN_SECONDS (the next run goes on).
- Only rows that have ended are touched: no login reads or writes an expired token's row, so
  the rows it deletes are ones nobody is using.

`run_purge` is what `idp maintenance purge` calls; `purge_forever` is the background job every
replica runs (idp/app.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db import partitions
from idp.db.models import AuditEvent
from idp.db.retention import Kind, cutoff, kinds
from idp.settings import RetentionSettings

log = logging.getLogger("idp.purge")

# any fixed 64-bit number, the same in every replica: the advisory lock of the purge
ADVISORY_KEY = 0x1D9_9A26E
LOCK_KEY = "purge:lock"
# in a report: the audit rows removed with whole months (PostgreSQL's dropped partitions)
MONTHS_KIND = "audit_months"
# the report of the last purge that ran (not a dry one), for the admin console
LAST_KEY = "purge:last"
LAST_TTL = 90 * 86400
# a run stops after this long (the next one continues), and the Store's lease outlives it
RUN_SECONDS = 600.0
LEASE_SECONDS = 900
# the first run comes this long after start (plus up to as much again, so that replicas started
# together do not all ask for the lock in the same instant)
FIRST_RUN = 300.0


class LeaseStore(Protocol):
    """The part of idp.store's Store the lock needs."""

    async def add(self, key: str, value: str, ttl: int) -> bool: ...
    async def put(self, key: str, value: str, ttl: int) -> None: ...
    async def get(self, key: str) -> str | None: ...
    async def delete(self, *keys: str) -> int: ...


@dataclass
class PurgeReport:
    """What one purge removed (or, dry, would remove), per kind; `skipped` when another
    replica was purging."""

    removed: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, str | None] = field(default_factory=dict)  # None: kept forever
    dry_run: bool = False
    skipped: bool = False
    finished: bool = True  # False: stopped after RUN_SECONDS, rows are left for the next run
    started_at: str = ""
    seconds: float = 0.0
    months: list[str] = field(default_factory=list)  # audit partitions dropped (PostgreSQL)

    def as_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "cutoffs": self.cutoffs, "dry_run": self.dry_run,
                "skipped": self.skipped, "finished": self.finished, "started_at": self.started_at,
                "seconds": self.seconds, "months": self.months}


async def last_purge(store: LeaseStore) -> dict[str, Any] | None:
    """The report of the last purge that removed (or looked for) anything, as recorded."""
    text_value = await store.get(LAST_KEY)
    if not text_value:
        return None
    try:
        found = json.loads(text_value)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


async def run_purge(engine: AsyncEngine, retention: RetentionSettings, *,
                    store: LeaseStore | None = None, dry_run: bool = False,
                    older_than: int | None = None, now: datetime | None = None,
                    run_seconds: float = RUN_SECONDS) -> PurgeReport:
    """Purge once, if no other replica is purging. `older_than` replaces the days of every kind
    that is not kept forever."""
    now = now or datetime.now(UTC)
    report = PurgeReport(dry_run=dry_run, started_at=now.isoformat())
    async with _only_one(engine, store) as got:
        if not got:
            report.skipped = True
            return report
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + run_seconds
        audit_by_row = True
        if engine.dialect.name == "postgresql":
            audit_by_row = await _whole_months(engine, retention, older_than, now, report)
        for kind in kinds(retention):
            if not audit_by_row and kind.model is AuditEvent:
                continue  # a month left to drop (or export) next time: not row by row now
            days = kind.days if older_than is None or kind.days == 0 else older_than
            if days == 0:
                report.cutoffs[kind.name] = None
                continue
            before = cutoff(now, days)
            report.cutoffs[kind.name] = before.isoformat()
            if dry_run:
                report.removed[kind.name] = await _count(engine, kind, before)
                continue
            removed, done = await _delete(engine, kind, before, retention, deadline)
            report.removed[kind.name] = removed
            if not done:
                report.finished = False
                break
        report.seconds = round(loop.time() - began, 3)
    if store is not None and not dry_run:
        try:
            await store.put(LAST_KEY, json.dumps(report.as_dict(), sort_keys=True), LAST_TTL)
        except Exception:  # noqa: BLE001 - the purge is done; only the console's note is lost
            log.warning("purge: could not record its report in the store", exc_info=True)
    return report


async def _whole_months(engine: AsyncEngine, retention: RetentionSettings,
                        older_than: int | None, now: datetime, report: PurgeReport) -> bool:
    """PostgreSQL: make the coming months' partitions, then export and drop each month past the
    retention of every kind of audit row (idp/db/partitions.py); the batched delete that
    follows takes the rest (months partly past it, the default partition). False when a month
    could not be exported or dropped: then no audit row is deleted row by row this time, so a
    month is never deleted without its export, nor row by row instead of dropped."""
    async with engine.connect() as conn:
        if not await partitions.is_partitioned(conn):
            return True  # not migrated yet
        if not report.dry_run:
            await partitions.ensure_months(conn, now)
        await conn.commit()
        days = [d if older_than is None or d == 0 else older_than
                for d in (retention.audit_days, retention.machine_audit_days)]
        if 0 in days:
            return True  # a kind kept forever: every month may hold some of it
        names = await partitions.months_ended_before(conn, cutoff(now, max(days)))
        await conn.commit()
    report.removed[MONTHS_KIND] = 0
    for name in names:
        async with engine.connect() as conn:
            rows = await partitions.count_rows(conn, name)
            if not report.dry_run and retention.export_dir is not None:
                try:
                    _, rows = await partitions.export_month(conn, name, retention.export_dir)
                except OSError as exc:
                    log.error("purge: audit month %s not exported to %s, so not dropped: %s",
                              name, retention.export_dir, exc)
                    report.finished = False
                    return False
            await conn.commit()
            if not report.dry_run:
                failure = await partitions.drop_month(conn, name)
                if failure is not None:
                    # its lock not had: inserts went on; the next purge drops it
                    log.warning("purge: audit month %s not dropped this time: %s", name,
                                failure.orig)
                    report.finished = False
                    return False
        report.removed[MONTHS_KIND] += rows
        report.months.append(name)
    return True


async def _count(engine: AsyncEngine, kind: Kind, before: datetime) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(select(func.count()).select_from(kind.model)
                                  .where(kind.ended(before)))
    return int(found or 0)


async def _delete(engine: AsyncEngine, kind: Kind, before: datetime,
                  retention: RetentionSettings, deadline: float) -> tuple[int, bool]:
    """Delete in batches; (rows removed, all of them gone). Each batch, in one transaction:
    the keys of up to `purge_batch` ended rows (locked, skipping locked ones), then a DELETE of
    those keys as a list, which the planner looks up by index. (A DELETE … WHERE key IN
    (SELECT …) lets it hash-join the subquery against a scan of the whole table instead: on a
    table of 370,000 audit rows that read every row for each batch of 500, 80–100 ms of CPU
    taken from logins per batch, and more as the table grows.)"""
    loop = asyncio.get_running_loop()
    columns = [kind.key] if kind.span is None else [kind.key, kind.span]
    chosen = (select(*columns).where(kind.ended(before)).limit(retention.purge_batch)
              .with_for_update(skip_locked=True))
    removed = 0
    while True:
        async with engine.begin() as conn:
            found = (await conn.execute(chosen)).all()
            count = 0
            if found:
                statement = delete(kind.model).where(kind.key.in_([row[0] for row in found]))
                if kind.span is not None:  # only the partitions the batch is in
                    statement = statement.where(kind.span.between(min(row[1] for row in found),
                                                                  max(row[1] for row in found)))
                result = await conn.execute(
                    statement.execution_options(synchronize_session=False))
                count = int(result.rowcount or 0)
        removed += count
        if len(found) < retention.purge_batch:
            return removed, True
        if loop.time() >= deadline:
            return removed, False
        await asyncio.sleep(retention.purge_pause)


class _only_one:
    """`async with _only_one(engine, store) as got`: got is True for the one replica that may
    purge now (module docstring)."""

    def __init__(self, engine: AsyncEngine, store: LeaseStore | None) -> None:
        self.engine, self.store = engine, store
        self._conn: Any = None
        self._lease: str | None = None

    async def __aenter__(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            conn = await self.engine.connect()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                         {"key": ADVISORY_KEY}))
            if not got:
                await conn.close()
                return False
            self._conn = conn
            return True
        if self.store is None:
            return True  # one process, nothing else can purge (the CLI on SQLite: see README)
        lease = secrets.token_hex(8)
        if not await self.store.add(LOCK_KEY, lease, LEASE_SECONDS):
            return False
        self._lease = lease
        return True

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock(:key)"),
                                         {"key": ADVISORY_KEY})
            finally:
                await self._conn.close()  # closing the session would release it as well
        if self._lease is not None and self.store is not None:
            # only our own lease: one that ran out and was taken by another stays theirs
            if await self.store.get(LOCK_KEY) == self._lease:
                await self.store.delete(LOCK_KEY)


async def purge_forever(engine: AsyncEngine, retention: RetentionSettings,
                        store: LeaseStore | None) -> None:
    """The background job of every replica: purge every `purge_interval` seconds, the first
    time a few minutes after start. A failure is logged and tried again next time: the purge
    must never take the server down."""
    first = min(FIRST_RUN, retention.purge_interval)
    await asyncio.sleep(first + random.uniform(0, first))  # noqa: S311 - spread, not secrecy
    while True:
        try:
            report = await run_purge(engine, retention, store=store)
        except Exception:  # noqa: BLE001 - logged; the database may be away, try again later
            log.exception("purge failed; trying again in %d s", retention.purge_interval)
        else:
            if report.skipped:
                log.debug("purge: another replica is purging")
            elif any(report.removed.values()) or not report.finished:
                log.info("purge removed %s%s", report.removed,
                         "" if report.finished else " (stopped for now, more to remove)")
        await asyncio.sleep(retention.purge_interval)
