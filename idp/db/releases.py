"""The attribute-release record (PIPL: a record of processing): which claims went to which app
for which person, and when. Names only, never values.

Every ID token, userinfo answer, introspection and CAS validation is recorded, so the record
sits on the token hot path. It is written behind the response, as the audit log writes machine
tokens (idp/db/audit.py `record_behind`): `record()` is synchronous and costs a dict update; one
writer task per ReleaseLog, started lazily in the loop that records, writes what gathered.
Unlike the audit log it compacts before writing: releases with the same person, app, claim set
and day (UTC) fold into one pending entry (first time, last time, count), and the writer waits
FLUSH_EVERY seconds for more to fold in, then upserts each entry into its row in one statement
(`INSERT … ON CONFLICT … DO UPDATE`: count added, first/last widened; on PostgreSQL straight
through asyncpg with unnest, as the audit log's batches go, idp/db/pg_direct.py; on SQLite a
Core executemany). A campus's token traffic is the same few thousand people and apps all day, so
the table and the writes stay small. Cost per answer (`python -m bench.releases`): about 1 µs
for record(), and at worst (no answer folding into another) about 5 µs more of the writer's.

The database away: as the audit log does, a batch that fails because the database is out of
reach is held (folded back into the pending entries) and retried after RETRY_FIRST seconds, then
at doubling intervals of at most RETRY_MAX (the audit log's constants and its outage test). The
entries held are bounded by `backlog` distinct keys; past it, a release with a new key is dropped
and counted (`idp_releases_dropped_total`) instead of refusing the token. Why not refuse, as the
audit log does past its backlog: issuing the token is itself audited (and refused when that
cannot be), so the release record is a summary whose loss is visible and bounded, and turning it
into failed sign-ins would make a privacy report more important than the service it reports on.
Releases that fold into a held key are never lost, only counted later. `close()` keeps trying
for CLOSE_WAIT seconds, then logs each entry still held as one JSON line, like the audit log.

A batch whose connection was lost after its commit may be retried and counted twice (the
first/last times are unaffected): the count is a volume, not a ledger.

Retention: rows older than `retention_days` are deleted by the writer at most once every
PURGE_EVERY seconds, and by `idp releases purge` (0 keeps them forever).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db.audit import CLOSE_WAIT, RETRY_FIRST, RETRY_MAX, is_outage
from idp.db.pg_direct import pg_direct
from idp.db.release_models import CLAIMS_LENGTH, AttributeRelease

log = logging.getLogger("idp.releases")

# seconds the writer lets releases fold into the pending entries before it writes them: a
# release shows on /account and in the console at most this much later
FLUSH_EVERY = 1.0
# distinct (person, app, claim set, day) entries held while the database is away (IDP_RELEASES_
# BACKLOG): a couple of hundred bytes each, hours of a campus's distinct sign-ins
BACKLOG = 50_000
# rows per upsert statement
MAX_BATCH = 500
# the writer's retention purge runs at most this often (every replica may run it: a DELETE of
# rows already deleted costs nothing)
PURGE_EVERY = 6 * 3600.0

_TABLE = AttributeRelease.__table__
Key = tuple[str, str, int, str]  # subject, client_id, day (UTC, days since the epoch), claims
Entry = list[Any]  # [first, last (seconds since the epoch), count]
_EPOCH = date(1970, 1, 1).toordinal()


def claim_set(names: Iterable[str]) -> str:
    """The row key of a set of claim names: sorted, once each, joined by spaces."""
    joined = " ".join(sorted(set(names)))
    if len(joined) > CLAIMS_LENGTH:  # never with our claims; a later one must not fail the row
        joined = joined[:CLAIMS_LENGTH].rsplit(" ", 1)[0]
    return joined


# claim names as handed over -> their set's key: the same few sets come with every token, so
# sorting and joining them each time would be most of record()'s cost
_SETS: dict[tuple[str, ...], str] = {}
_MAX_SETS = 4096


def _claim_set_of(claims: Iterable[str]) -> str:
    names = claims if isinstance(claims, tuple) else tuple(claims)
    found = _SETS.get(names)
    if found is None:
        found = claim_set(names)
        if len(_SETS) >= _MAX_SETS:
            _SETS.clear()
        _SETS[names] = found
    return found


class ReleaseLog:
    """The attribute-release record of one database (module docstring)."""

    def __init__(self, engine: AsyncEngine, *, backlog: int = BACKLOG,
                 retention_days: int = 0) -> None:
        self._engine = engine
        self._direct = pg_direct(engine)
        self._backlog = backlog
        self._retention_days = retention_days
        self._pending: dict[Key, Entry] = {}
        self._writer: asyncio.Task[None] | None = None
        self._away = False
        self._retry_in = RETRY_FIRST
        self._resting: asyncio.Future[None] | None = None
        self._waiting: asyncio.Future[None] | None = None  # the fold-in pause, cut short by flush()
        self._closing = False
        self._purged_at: float | None = None
        self.dropped = 0  # releases not recorded since the start (the backlog was full)

    @property
    def pending(self) -> int:
        """Entries not yet written (held while the database is away, else gathering)."""
        return len(self._pending)

    def record(self, subject: str | None, client_id: str | None, claims: Iterable[str], *,
               at: datetime | None = None) -> None:
        """Note that `claims` (names) went to `client_id` for `subject` now. Returns at once;
        the row is written behind (module docstring). Nothing personal, nothing recorded: a
        machine's token (no person) or an answer with no claims."""
        if not subject or not client_id:
            return
        names = _claim_set_of(claims)
        if not names:
            return
        # seconds since the epoch, not datetimes: making one costs more than the rest of this
        # call (the writer makes them); the day is the UTC day number
        now = time.time() if at is None else at.timestamp()
        key = (subject[:200], client_id[:64], int(now // 86400), names)
        entry = self._pending.get(key)
        if entry is not None:
            if now > entry[1]:
                entry[1] = now
            elif now < entry[0]:
                entry[0] = now
            entry[2] += 1
        elif len(self._pending) >= self._backlog:
            self._dropped(1)
            return
        else:
            self._pending[key] = [now, now, 1]
        writer = self._writer
        if writer is None or writer.done():
            # (a writer left running by an event loop that has ended is replaced by the next
            # flush() or close(), which look at the loop)
            self._wake(asyncio.get_running_loop())

    def _dropped(self, count: int) -> None:
        """A release not recorded: the held entries fill the backlog (MeteredReleaseLog
        counts it for Prometheus)."""
        self.dropped += count
        if self.dropped == count or self.dropped // 1000 != (self.dropped - count) // 1000:
            # the first, then one line per thousand: an outage must not flood the log
            log.warning("attribute release(s) not recorded (%d so far): %d entries already wait "
                        "for the database (IDP_RELEASES_BACKLOG)", self.dropped, len(self._pending))

    async def flush(self) -> None:
        """Write every release recorded so far now (without the fold-in pause); returns once
        they are written or held because the database is away."""
        loop = asyncio.get_running_loop()
        while self._pending or self._writing_in(loop):
            if self._away:
                return
            _settle(self._waiting)
            await asyncio.wait({self._wake(loop)}, timeout=RETRY_FIRST)

    async def close(self) -> None:
        """Write what is pending; while the database is away keep trying for CLOSE_WAIT
        seconds, then log each entry still held. Call before disposing of the engine."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT
        self._closing = True
        try:
            while self._pending or self._writing_in(loop):
                if self._away and loop.time() >= deadline:
                    if self._writing_in(loop):
                        assert self._writer is not None
                        self._writer.cancel()
                        await asyncio.wait({self._writer})
                    self._log_held()
                    break
                _settle(self._waiting)
                _settle(self._resting)
                await asyncio.wait({self._wake(loop)}, timeout=RETRY_FIRST)
        finally:
            self._closing = False

    # --- the writer --------------------------------------------------------------------------

    def _writing_in(self, loop: asyncio.AbstractEventLoop) -> bool:
        writer = self._writer
        return writer is not None and not writer.done() and writer.get_loop() is loop

    def _wake(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
        writer = self._writer
        # a writer left behind by an event loop that has ended never runs again: start afresh
        if writer is None or writer.done() or writer.get_loop() is not loop:
            writer = self._writer = loop.create_task(self._drain(), name="release-writer")
        return writer

    async def _drain(self) -> None:
        while self._pending:
            if not self._away and not self._closing:
                await self._pause("_waiting", FLUSH_EVERY)
            batch, self._pending = self._pending, {}
            unwritten = await self._write(batch)
            if unwritten:
                self._hold(unwritten)
                await self._pause("_resting", RETRY_FIRST if self._closing else self._retry_in)
                self._retry_in = min(self._retry_in * 2, RETRY_MAX)
                continue
            if self._away:
                self._away, self._retry_in = False, RETRY_FIRST
                log.warning("releases: the database is back; writing the releases held for it")
            await self._purge_now_and_then()

    def _hold(self, unwritten: dict[Key, Entry]) -> None:
        """Fold the entries the database did not take back into those gathered meanwhile."""
        if not self._away:
            log.error("releases: the database is out of reach; holding %d entries and retrying "
                      "(at most %d, then new ones are dropped and counted)",
                      len(unwritten) + len(self._pending), self._backlog)
        self._away = True
        for key, (first, last, count) in unwritten.items():
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = [first, last, count]
            else:
                entry[0], entry[1] = min(entry[0], first), max(entry[1], last)
                entry[2] += count

    async def _pause(self, name: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        setattr(self, name, future)
        timer = loop.call_later(seconds, _settle, future)
        try:
            await future
        finally:
            timer.cancel()
            setattr(self, name, None)

    async def _write(self, batch: dict[Key, Entry]) -> dict[Key, Entry]:
        """Upsert the batch; the entries left unwritten because the database is away, else {}.
        A chunk the database refuses for its content is logged and dropped (retrying cannot
        mend it)."""
        items = list(batch.items())
        for start in range(0, len(items), MAX_BATCH):
            chunk = items[start:start + MAX_BATCH]
            try:
                await self._upsert([_row(key, entry) for key, entry in chunk])
            except Exception as exc:
                if is_outage(exc):
                    log.debug("releases: %d entries not written: %s", len(items) - start, exc)
                    return dict(items[start:])
                log.exception("releases: the database refused %d entries", len(chunk))
                self._dropped(len(chunk))
        return {}

    async def _upsert(self, rows: list[dict[str, Any]]) -> None:
        # PostgreSQL: one INSERT … SELECT FROM unnest straight through asyncpg, as the audit
        # log's batches go (idp/db/pg_direct.py): a fifth of the CPU of SQLAlchemy's executemany
        if self._direct is not None:
            await self._direct.upsert_releases(rows)
            return
        async with self._engine.begin() as conn:
            await conn.execute(_SQLITE_UPSERT, rows)

    async def _purge_now_and_then(self) -> None:
        if self._retention_days <= 0:
            return
        now = asyncio.get_running_loop().time()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        try:
            removed = await purge(self._engine, self._retention_days)
        except Exception as exc:  # noqa: BLE001 - the next purge will do it; nothing is lost
            log.warning("releases: the retention purge failed (%s); trying again later", exc)
            self._purged_at = None if not is_outage(exc) else now
            return
        if removed:
            log.info("releases: %d rows older than %d days deleted", removed, self._retention_days)

    def _log_held(self) -> None:
        held, self._pending = self._pending, {}
        if held:
            log.error("releases: %d entries not written to the database; each follows", len(held))
        for key, entry in held.items():
            log.error("attribute release not written: %s",
                      json.dumps(_row(key, entry), default=str, sort_keys=True))


def _row(key: Key, entry: Entry) -> dict[str, Any]:
    subject, client_id, day, claims = key
    return {"subject": subject, "client_id": client_id, "day": date.fromordinal(_EPOCH + day),
            "claims": claims, "first_at": datetime.fromtimestamp(entry[0], UTC),
            "last_at": datetime.fromtimestamp(entry[1], UTC), "count": entry[2]}


def _sqlite_upsert() -> Any:
    """INSERT one row per key, or fold into the row already there: counts add up, the first
    and last times widen (SQLite's min/max of two arguments; PostgreSQL's LEAST/GREATEST in
    pg_direct.UPSERT_RELEASES). The stored text of a time sorts as the time does."""
    statement = sqlite_insert(_TABLE)
    columns, excluded = _TABLE.c, statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[columns.subject, columns.client_id, columns.day, columns.claims],
        set_={"first_at": func.min(columns.first_at, excluded.first_at),
              "last_at": func.max(columns.last_at, excluded.last_at),
              "count": columns.count + excluded.count})


_SQLITE_UPSERT = _sqlite_upsert()


def cutoff(retention_days: int, *, today: date | None = None) -> date:
    """The first day kept: rows of earlier days are past their retention."""
    return (today or datetime.now(UTC).date()) - timedelta(days=retention_days)


async def purge(engine: AsyncEngine, retention_days: int, *, today: date | None = None) -> int:
    """Delete the rows older than `retention_days`; how many went. 0 days keeps everything."""
    if retention_days <= 0:
        return 0
    async with engine.begin() as conn:
        result = await conn.execute(delete(_TABLE).where(
            _TABLE.c.day < cutoff(retention_days, today=today)))
    return int(result.rowcount or 0)


def _settle(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
