"""The audit log: every login success and failure, every token issued, every admin action.

Every issued token writes an event, so the write sits on the token hot path. Events are written
by group commit: `record()` queues a plain row and waits; one writer task per Audit inserts
everything queued in one statement (PostgreSQL: an INSERT … SELECT FROM unnest sent straight
through asyncpg, idp/db/pg_direct.py; SQLite: a Core executemany in one transaction) and then
wakes the waiters. Events that arrive while a batch is being written form the next batch, so
under load many requests share one transaction, and with no load an event costs one insert as
before. `record()` returns only once its row is committed.

`record_behind()` queues the same way but returns at once (write-behind): for tokens issued to
machines (client_credentials), the busiest and least personal events, where waiting for the
commit cost an eighth of each token's CPU (an extra suspension of the request and smaller
batches). While only such rows are queued, the writer lingers up to 5 ms for more to join them
(a row someone waits for ends the linger): a tenth less CPU again, as PostgreSQL commits far
fewer transactions. `close()` waits for them, so only a crash of the process loses rows still
queued. A backlog (the database slow or gone) makes it wait like `record()`, so the queue stays
bounded. Everything that concerns people (logins, codes, refresh tokens) and every failure
stays on `record()`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from idp.db.models import AuditEvent, utcnow
from idp.db.pg_direct import DatabaseUnavailable, pg_direct

log = logging.getLogger("idp.audit")

# rows per transaction: big enough to absorb a burst, small enough that one statement stays cheap
MAX_BATCH = 500
# events queued by record_behind() beyond this wait for their commit, as record() does
MAX_BEHIND = 5000
# while only such events are queued, the writer lets more join them for this long (nobody waits
# for them, and one transaction of many rows costs both sides far less than many of few)
BEHIND_LINGER = 0.005

_INSERT = insert(AuditEvent.__table__)

Row = dict[str, Any]
_Waiting = tuple[Row, "asyncio.Future[None] | None"]  # None: nobody waits (record_behind)


class Audit:
    """The audit log of one database. Used from one event loop at a time: the writer task is
    started lazily in the loop that records (the CLI records inside `asyncio.run`)."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._direct = pg_direct(self._engine)
        self._pending: list[_Waiting] = []
        self._waiters_queued = 0  # rows in _pending whose caller waits (record())
        self._lingering: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self, kind: str, outcome: str, *, actor: str | None = None, client_id: str | None = None,
        ip: str | None = None, **detail: Any,
    ) -> None:
        """Write one event and return once it is committed. A failing audit write is logged
        loudly but never raises: it must not turn a successful login into an error page."""
        row = self._event(kind, outcome, actor, client_id, ip, detail)
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self._pending.append((row, written))
        self._waiters_queued += 1
        if self._lingering is not None and not self._lingering.done():
            self._lingering.set_result(None)  # someone waits now: write without lingering
        self._wake(loop)
        await written

    async def record_behind(
        self, kind: str, outcome: str, *, actor: str | None = None, client_id: str | None = None,
        ip: str | None = None, **detail: Any,
    ) -> None:
        """Queue one event for the writer and return without waiting for its commit (see the
        module's docstring for which events may); with a backlog, wait as record() does."""
        if len(self._pending) >= MAX_BEHIND:
            await self.record(kind, outcome, actor=actor, client_id=client_id, ip=ip, **detail)
            return
        row = self._event(kind, outcome, actor, client_id, ip, detail)
        self._pending.append((row, None))
        self._wake(asyncio.get_running_loop())

    def _event(self, kind: str, outcome: str, actor: str | None, client_id: str | None,
               ip: str | None, detail: dict[str, Any]) -> Row:
        """The row of one event handed over for writing (MeteredAudit counts it here)."""
        # every column is given, as the ORM did with its defaults: executemany needs the same
        # keys in every row, and `at` is when the event happened, not when its batch was written
        return {"at": utcnow(), "kind": kind, "outcome": outcome, "actor": actor,
                "client_id": client_id, "ip": ip, "detail": detail}

    async def close(self) -> None:
        """Wait until every event handed to `record()` or `record_behind()` so far has been
        written (or logged as lost). Call before disposing of the engine."""
        loop = asyncio.get_running_loop()
        while self._pending or self._writing_in(loop):
            await asyncio.wait({self._wake(loop)})

    # --- the writer --------------------------------------------------------------------------

    def _writing_in(self, loop: asyncio.AbstractEventLoop) -> bool:
        writer = self._writer
        return writer is not None and not writer.done() and writer.get_loop() is loop

    def _wake(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
        writer = self._writer
        # a writer left behind by an event loop that has ended never runs again: start afresh
        if writer is None or writer.done() or writer.get_loop() is not loop:
            writer = self._writer = loop.create_task(self._drain(), name="audit-writer")
        return writer

    async def _drain(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._pending:
                if not self._waiters_queued and len(self._pending) < MAX_BATCH:
                    await self._linger()
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                self._waiters_queued -= sum(1 for _, written in batch if written is not None)
                await self._write([row for row, _ in batch])
                _wake_waiters(batch)
                batch = []
        except BaseException:
            # cancelled (the loop is shutting down without close()): nobody may wait forever
            unwritten = batch + self._pending
            del self._pending[:]
            self._waiters_queued = 0
            log.error("audit writer stopped: %d event(s) may not have been written: %s",
                      len(unwritten), _describe([row for row, _ in unwritten]))
            _wake_waiters(unwritten)
            raise

    async def _linger(self) -> None:
        """Wait BEHIND_LINGER for more events to join the batch, or until record() queues one
        that its caller waits for."""
        loop = asyncio.get_running_loop()
        lingering = self._lingering = loop.create_future()
        timer = loop.call_later(BEHIND_LINGER, _settle, lingering)
        try:
            await lingering
        finally:
            timer.cancel()
            self._lingering = None

    async def _write(self, rows: list[Row]) -> None:
        """Write a batch in one transaction. If it fails because of a row (one that cannot be
        encoded, or that the database refuses), write the rows one by one so only bad ones are
        lost; if the database itself is out of reach, retrying row by row would only repeat the
        failure (and its timeouts) once per row."""
        try:
            await self._insert(rows)
            return
        except Exception as exc:
            if len(rows) == 1 or _is_outage(exc):
                log.exception("audit write failed, %d event(s) lost: %s", len(rows), _describe(rows))
                return
            log.warning("audit batch of %d events failed (%s); writing them one by one",
                        len(rows), type(exc).__name__)
        for index, row in enumerate(rows):
            try:
                await self._insert([row])
            except Exception as exc:
                log.exception("audit write failed: %s %s %s", row["kind"], row["outcome"], row["actor"])
                rest = rows[index + 1:]
                if rest and _is_outage(exc):
                    log.error("audit: database unavailable, %d more event(s) lost: %s",
                              len(rest), _describe(rest))
                    return

    async def _insert(self, rows: list[Row]) -> None:
        if self._direct is not None:
            await self._direct.insert_audit(rows)
            return
        async with self._engine.begin() as conn:
            await conn.execute(_INSERT, rows)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _wake_waiters(batch: list[_Waiting]) -> None:
    for _, written in batch:
        # nobody waits (record_behind), or the caller was cancelled: the row was written all the same
        if written is None or written.done():
            continue
        try:
            written.set_result(None)
        except RuntimeError:  # its event loop has closed: nobody is waiting any more
            pass


def _is_outage(exc: Exception) -> bool:
    """The database failed (unreachable, connection lost, locked), not one row in the batch."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    # could not connect at all (TimeoutError is an OSError), or lost PostgreSQL on the direct path
    return isinstance(exc, OSError | DatabaseUnavailable)


def _describe(rows: list[Row], limit: int = 5) -> str:
    shown = "; ".join(f"{row['kind']} {row['outcome']} {row['actor']}" for row in rows[:limit])
    return shown + (f"; and {len(rows) - limit} more" if len(rows) > limit else "")
