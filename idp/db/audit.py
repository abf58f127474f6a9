"""The audit log: every login success and failure, every token issued, every admin action.

Every issued token writes an event, so the write sits on the token hot path. Events are written
by group commit: `record()` queues a plain row and waits; one writer task per Audit inserts
everything queued in one statement (PostgreSQL: an INSERT … SELECT FROM unnest sent straight
through asyncpg, idp/db/pg_direct.py; SQLite: a Core executemany in one transaction) and then
wakes the waiters. Events that arrive while a batch is being written form the next batch, so
under load many requests share one transaction, and with no load an event costs one insert as
before. `record()` returns only once its row is committed (but see "the database away").

`record_behind()` queues the same way but returns at once (write-behind): for every token
issued (the token endpoint's successes: codes redeemed, refreshes, device grants, machines'
tokens), the busiest events, whose grant is durable before the response anyway (the code taken
in the Store, the refresh token's row committed). Waiting for the commit cost an eighth of a
machine token's CPU and 7% of a code flow's (an extra suspension of the request, smaller batches
and more commits). While only such rows are queued, the writer lingers up to 5 ms for more to
join them (a row someone waits for ends the linger): a tenth less CPU again, as PostgreSQL
commits far fewer transactions. `close()` waits for them. A backlog (the database slow) makes it
wait like `record()`, so the queue stays bounded. Logins, logouts, admin actions, consents and
every failure stay on `record()`. What only a crash of the process loses is the rows of its last
few milliseconds of tokens. Readers whose answer must include them (the portal's recently used
apps, the console's log and charts) call `caught_up()` first: it returns once everything queued
in this process so far is written.

`record_machine()` is where machine tokens go: with `machine_tokens="summary"` (the default,
IDP_AUDIT_MACHINE_TOKENS) they are counted per client per minute and one row each is written
behind once the minute is over (idp/db/machine_audit.py); with "each", one row per token, as
`record_behind()`.

The database away. DESIGN.md: every login and every admin action lands in the audit log. While
PostgreSQL is out of reach, the directory and the Store may still serve logins; dropping their
events would break that promise, and refusing them all would turn a short database restart into
failed logins for everyone. So a batch that fails because the database is out of reach (not
because of a row in it) is held: its rows go back to the head of the queue, and the writer tries
again RETRY_FIRST seconds later, then at doubling intervals of at most RETRY_MAX, until the
database takes them (each row keeps its `at`, the time of the event). Meanwhile `record()` does
not wait for a commit that cannot come: it returns once its row is held. Held rows are bounded
by `backlog` (IDP_AUDIT_BACKLOG): past it, `record()` and `record_behind()` raise
DatabaseUnavailable, so the action is refused with the error policy's 503 rather than done
unaudited (a backlog of 0 refuses every audited action while the database is away). `close()`
keeps trying for CLOSE_WAIT seconds, then writes each event still held to the log, one JSON line
each ("audit event not written: {…}"), the last durable place left. Only a crash of the process
while the database is away loses held events. A row the database refuses (it cannot be encoded,
a NOT NULL column is empty, the table is missing) is logged and dropped: retrying cannot help.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from idp.db.machine_audit import FLUSH_DELAY, MachineTally, minute_of
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
# events held while the database is away, unless the settings say otherwise (IDP_AUDIT_BACKLOG):
# about 15 MB of memory, and at a busy campus's 100 audited requests a second, minutes of outage
BACKLOG = 20_000
# seconds until the first retry of a batch the database could not take, and the longest pause
# between retries: held events reach the database at most this long after it is back
RETRY_FIRST = 0.25
RETRY_MAX = 5.0
# seconds close() keeps trying to write held events before it logs them instead
CLOSE_WAIT = 5.0

_INSERT = insert(AuditEvent.__table__)
# SQLite reports a missing table or column as OperationalError, as it does a locked database:
# those are the schema's fault, not an outage, and waiting would not mend them
_SCHEMA_ERROR = re.compile(r"no such (table|column)|has no column named|syntax error", re.I)

Row = dict[str, Any]
# None: nobody waits (record_behind, held). A row of None is caught_up()'s marker: nothing to write
_Waiting = tuple["Row | None", "asyncio.Future[None] | None"]


class Audit:
    """The audit log of one database. Used from one event loop at a time: the writer task is
    started lazily in the loop that records (the CLI records inside `asyncio.run`)."""

    def __init__(self, sessions: async_sessionmaker, *, backlog: int = BACKLOG,
                 machine_tokens: str = "summary") -> None:
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._direct = pg_direct(self._engine)
        self._backlog = backlog
        self._pending: list[_Waiting] = []
        self._waiters_queued = 0  # rows in _pending whose caller waits (record())
        self._lingering: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._away = False  # the last write found the database out of reach
        # the last failed write may have committed before its connection was lost (its reply
        # never came back): the next write first looks for those rows, so none is written twice
        self._uncertain = False
        self._retry_in = RETRY_FIRST
        self._resting: asyncio.Future[None] | None = None  # the pause before the next retry
        self._closing = False
        self._tally = MachineTally() if machine_tokens == "summary" else None
        self._flush_at: asyncio.TimerHandle | None = None
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    @property
    def held(self) -> int:
        """Events waiting for a database that is away (0 while it is reachable)."""
        return len(self._pending) if self._away else 0

    async def record(
        self, kind: str, outcome: str, *, actor: str | None = None, client_id: str | None = None,
        ip: str | None = None, **detail: Any,
    ) -> None:
        """Write one event and return once it is committed, or held while the database is away
        (module docstring). Raises DatabaseUnavailable only when the held events fill the
        backlog; any other failure of the write is logged, never raised: it must not turn a
        successful login into an error page."""
        if self._away:
            self._make_room()
            self._hold(self._event(kind, outcome, actor, client_id, ip, detail))
            return
        await self._queue_and_wait(self._event(kind, outcome, actor, client_id, ip, detail))

    async def caught_up(self) -> None:
        """Return once every event queued here so far is in the database (or held while it is
        away). For the readers whose answer must include what this process just recorded behind
        (the portal's recently used apps, the console's log and charts): a marker joins the queue
        and is answered when the batch it ends up in is written. Another replica's rows reach the
        database within its linger, milliseconds."""
        if self._away or not (self._pending or self._writing_in(asyncio.get_running_loop())):
            return
        await self._queue_and_wait(None)

    async def _queue_and_wait(self, row: Row | None) -> None:
        """Queue `row` (None: caught_up()'s marker) and wait until its batch is written."""
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
        if self._away:
            self._make_room()
            self._hold(self._event(kind, outcome, actor, client_id, ip, detail))
            return
        if len(self._pending) >= MAX_BEHIND:
            await self.record(kind, outcome, actor=actor, client_id=client_id, ip=ip, **detail)
            return
        row = self._event(kind, outcome, actor, client_id, ip, detail)
        self._pending.append((row, None))
        self._wake(asyncio.get_running_loop())

    async def record_machine(
        self, kind: str, outcome: str, *, actor: str | None = None, client_id: str | None = None,
        ip: str | None = None, **detail: Any,
    ) -> None:
        """A token issued to a machine (client_credentials): counted into its client's minute
        (summary), or one row written behind (each). See the module docstring."""
        if self._tally is None or client_id is None:
            await self.record_behind(kind, outcome, actor=actor, client_id=client_id, ip=ip,
                                     **detail)
            return
        self._observe(kind, outcome, client_id, detail)
        if self._tally.add(utcnow(), client_id, detail.get("grant"), detail.get("scope"), ip):
            self._plan_flush(asyncio.get_running_loop())

    def _plan_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write the minutes that have ended shortly after the current one ends."""
        if self._flush_at is not None and self._flush_loop is loop:
            return
        now = utcnow()
        wait = (minute_of(now) - now).total_seconds() + 60 + FLUSH_DELAY
        self._flush_at, self._flush_loop = loop.call_later(wait, self._flush_minutes), loop

    def _flush_minutes(self, every: bool = False) -> None:
        """Queue the summary rows of the minutes that have ended (all of them while closing)."""
        self._flush_at = None
        if self._tally is None:
            return
        rows = self._tally.take(None if every else minute_of(utcnow()))
        loop = asyncio.get_running_loop()
        for row in rows:
            self._pending.append((row, None))
        if rows:
            self._wake(loop)
        if len(self._tally) and not every:
            self._plan_flush(loop)  # the current minute, still counting

    def _observe(self, kind: str, outcome: str, client_id: str | None,
                 detail: dict[str, Any]) -> None:
        """Each event as it happens, summarised or not (MeteredAudit counts it here)."""

    def _event(self, kind: str, outcome: str, actor: str | None, client_id: str | None,
               ip: str | None, detail: dict[str, Any]) -> Row:
        """The row of one event handed over for writing."""
        self._observe(kind, outcome, client_id, detail)
        # every column is given, as the ORM did with its defaults: executemany needs the same
        # keys in every row, and `at` is when the event happened, not when its batch was written
        return {"at": utcnow(), "kind": kind, "outcome": outcome, "actor": actor,
                "client_id": client_id, "ip": ip, "detail": detail}

    def _make_room(self) -> None:
        """Refuse the event (and so the action) when the held ones fill the backlog: an
        unaudited action must not happen. Before the event is made, so it is not counted."""
        if len(self._pending) >= self._backlog:
            raise DatabaseUnavailable(f"the database is away and {len(self._pending)} audit "
                                      "events already wait for it (IDP_AUDIT_BACKLOG)")

    def _hold(self, row: Row) -> None:
        """Keep an event for when the database is back."""
        self._pending.append((row, None))
        self._wake(asyncio.get_running_loop())

    async def settle(self) -> None:
        """Write the machine-token minutes counted so far (the current one too: a later token
        of the same minute makes a second row for it) and wait until every queued event is
        written. For `idp maintenance` and tests; the server's minutes are written on their own."""
        await self.close()

    async def close(self) -> None:
        """Wait until every event handed to `record()` or `record_behind()` so far has been
        written. While the database is away, keep trying for CLOSE_WAIT seconds, then log each
        event still held (module docstring). Call before disposing of the engine."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT
        self._closing = True
        if self._flush_at is not None:
            self._flush_at.cancel()
        if self._tally is not None and len(self._tally):
            self._flush_minutes(every=True)  # the minute still counting too
        try:
            while self._pending or self._writing_in(loop):
                if self._away and loop.time() >= deadline:
                    await self._give_up(loop)
                    break
                if self._resting is not None:
                    _settle(self._resting)  # retry now, not after the pause
                # in slices: the database may go away while a batch is being written
                await asyncio.wait({self._wake(loop)}, timeout=RETRY_FIRST)
            # a slice can end in the very step the writer answered its last callers: let them
            # run first, so that every record() has returned before close() does
            await asyncio.sleep(0)
        finally:
            self._closing = False

    async def _give_up(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop writing: the writer's last words log every event it still holds (and those
        queued when no writer runs here are logged the same way)."""
        if self._writing_in(loop):
            assert self._writer is not None
            self._writer.cancel()
            await asyncio.wait({self._writer})
        if self._pending:
            left, self._pending = self._pending, []
            self._waiters_queued = 0
            _log_in_full(_rows(left))
            _wake_waiters(left)

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
                if not self._away and not self._waiters_queued and len(self._pending) < MAX_BATCH:
                    await self._linger()
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                self._waiters_queued -= sum(1 for _, written in batch if written is not None)
                unwritten = await self._write(_rows(batch))
                if unwritten:
                    self._hold_unwritten(batch, unwritten)
                    batch = []
                    await self._rest()
                    continue
                if self._away:
                    self._away, self._retry_in = False, RETRY_FIRST
                    log.warning("audit: the database is back; the events held for it are "
                                "being written (%d still queued)", len(self._pending))
                _wake_waiters(batch)
                batch = []
        except BaseException:
            # cancelled (close() gave up on the database, or the loop is shutting down without
            # close()): nobody may wait forever, and nothing may vanish without a trace
            unwritten = batch + self._pending
            del self._pending[:]
            self._waiters_queued = 0
            if unwritten:
                log.error("audit writer stopped: %d event(s) not written to the database; each "
                          "follows in full", len(unwritten))
                _log_in_full(_rows(unwritten))
            _wake_waiters(unwritten)
            raise

    def _hold_unwritten(self, batch: list[_Waiting], unwritten: list[Row]) -> None:
        """The database is away: the rows it did not take go back to the head of the queue, and
        every caller waiting (for these or for later rows) is answered: their rows are held."""
        if not self._away:
            log.error("audit: the database is out of reach; holding %d event(s) and retrying "
                      "(at most %d held, then audited actions are refused)",
                      len(unwritten) + len(self._pending), self._backlog)
        self._away = True
        self._pending[:0] = [(row, None) for row in unwritten]
        _wake_waiters(batch)
        _wake_waiters(self._pending)
        self._pending[:] = [(row, None) for row in _rows(self._pending)]  # markers answered
        self._waiters_queued = 0

    async def _rest(self) -> None:
        """Pause before the next retry (doubling, at most RETRY_MAX; short while closing)."""
        delay = RETRY_FIRST if self._closing else self._retry_in
        self._retry_in = min(self._retry_in * 2, RETRY_MAX)
        loop = asyncio.get_running_loop()
        resting = self._resting = loop.create_future()
        timer = loop.call_later(delay, _settle, resting)
        try:
            await resting
        finally:
            timer.cancel()
            self._resting = None

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

    async def _write(self, rows: list[Row]) -> list[Row]:
        """Write a batch in one transaction; the rows left unwritten because the database is
        out of reach (to be held), else []. If the batch fails because of a row (one that cannot
        be encoded, or that the database refuses), write the rows one by one so only bad ones
        are lost."""
        if not rows:
            return []  # only caught_up() markers
        try:
            if self._uncertain:
                rows = await self._not_written(rows)
                self._uncertain = False
            if rows:
                await self._insert(rows)
            return []
        except Exception as exc:
            if is_outage(exc):
                log.debug("audit batch of %d event(s) not written: %s", len(rows), exc)
                self._uncertain = True
                return rows
            if len(rows) == 1:
                log.exception("audit write failed, the database refused the event: %s",
                              _describe(rows))
                return []
            log.warning("audit batch of %d events failed (%s); writing them one by one",
                        len(rows), type(exc).__name__)
        for index, row in enumerate(rows):
            try:
                await self._insert([row])
            except Exception as exc:
                if is_outage(exc):
                    self._uncertain = True
                    return rows[index:]
                log.exception("audit write failed: %s %s %s", row["kind"], row["outcome"], row["actor"])
        return []

    async def _not_written(self, rows: list[Row]) -> list[Row]:
        """The rows not yet in the table. Only PostgreSQL can lose a connection after its
        commit; SQLite fails before it (locked, unable to open), so there all are unwritten."""
        if self._direct is None:
            return rows
        found = await self._direct.audit_written([row["at"] for row in rows])
        return [row for row in rows if (row["at"], row["kind"], row["outcome"], row["actor"],
                                        row["client_id"], row["ip"]) not in found]

    async def _insert(self, rows: list[Row]) -> None:
        if self._direct is not None:
            await self._direct.insert_audit(rows)
            return
        async with self._engine.begin() as conn:
            await conn.execute(_INSERT, rows)


def _rows(entries: list[_Waiting]) -> list[Row]:
    """The events of queue entries, without caught_up()'s markers."""
    return [row for row, _ in entries if row is not None]


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


def is_outage(exc: Exception) -> bool:
    """The database failed (unreachable, connection lost, locked), not one row in the batch."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        return isinstance(exc, OperationalError) and not _SCHEMA_ERROR.search(str(exc.orig))
    # could not connect at all (TimeoutError is an OSError), or lost PostgreSQL on the direct path
    return isinstance(exc, OSError | DatabaseUnavailable)


def _log_in_full(rows: list[Row]) -> None:
    """Each event as one JSON line: what an operator needs to put it in the table by hand."""
    for row in rows:
        log.error("audit event not written: %s",
                  json.dumps(row, default=str, ensure_ascii=False, sort_keys=True))


def _describe(rows: list[Row], limit: int = 5) -> str:
    shown = "; ".join(f"{row['kind']} {row['outcome']} {row['actor']}" for row in rows[:limit])
    return shown + (f"; and {len(rows) - limit} more" if len(rows) > limit else "")
