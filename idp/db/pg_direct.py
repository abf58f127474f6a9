"""PostgreSQL: the few statements on the token and login hot paths, sent straight through asyncpg.

Why: SQLAlchemy Core's execution layer (execution context, greenlet hop, result processing)
costs about 200 µs of CPU per statement on top of asyncpg's own 90 µs; a refresh_token grant
ran two such statements and an audit row (now one: the claim), so that layer was a fifth of the
grant. These
statements are fixed, few and each a transaction of its own (autocommit), so they run on a few
asyncpg connections (`Connections`) with prepared statements cached per connection. Everything
else stays on SQLAlchemy, and SQLite keeps the Core path (idp/protocols/oidc/ledger.py, idp/db/audit.py):
the ledger and audit contract tests run both.

The connections never hold a transaction between statements, so handing one back needs no
reset. Connections the server closed are replaced on the next checkout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db.grouped import Grouped

log = logging.getLogger("idp.db")

# per process; kept small: the SQLAlchemy pool is sized so that both stay at 20 (idp/db/engine.py)
POOL_SIZE = 4
# a statement or a checkout that takes this long means the database is in trouble: answer 503
TIMEOUT_SECONDS = 10.0

# the new row's values are cast so that the INSERT … SELECT form gets the column types too;
# NEW_REFRESH names them in parameter order ($1…$12)
NEW_REFRESH = ("digest", "family_id", "client_id", "subject", "scope", "sid", "auth_time", "acr",
               "amr", "nonce", "expires_at", "created_at")

SELECT_REFRESH = (
    "SELECT digest, family_id, client_id, subject, scope, expires_at, sid, auth_time, acr, amr,"
    " nonce, created_at, rotated_at, revoked_at FROM refresh_tokens WHERE digest = $1"
)
INSERT_REFRESH = (
    "INSERT INTO refresh_tokens (digest, family_id, client_id, subject, scope, sid, auth_time,"
    " acr, amr, nonce, expires_at, created_at) VALUES ($1::varchar, $2::varchar, $3::varchar,"
    " $4::varchar, $5::text, $6::varchar, $7::integer, $8::varchar, $9::json, $10::text,"
    " $11::timestamptz, $12::timestamptz)"
)
# the old token is rotated only while still usable; the new row is inserted only when that UPDATE
# won, in the same statement (of two concurrent rotations PostgreSQL lets one win)
ROTATE_REFRESH = (
    "WITH rotated AS (UPDATE refresh_tokens SET rotated_at = $13 WHERE digest = $14"
    " AND rotated_at IS NULL AND revoked_at IS NULL RETURNING digest)"
    " INSERT INTO refresh_tokens (digest, family_id, client_id, subject, scope, sid, auth_time,"
    " acr, amr, nonce, expires_at, created_at) SELECT $1::varchar, $2::varchar, $3::varchar,"
    " $4::varchar, $5::text, $6::varchar, $7::integer, $8::varchar, $9::json, $10::text,"
    " $11::timestamptz, $12::timestamptz FROM rotated"
)
# refresh_token grants claim the tokens they present, each in one statement, or several in one
# (idp/db/grouped.py): each token is marked rotated, only if it is its client's and still
# usable, and its successor (the digest that claim names) is inserted as a copy of it (RFC 6749
# §6: the same scope, family and absolute expiry; no nonce), by the same statement; each claimed
# row comes back as it was before the claim, with the successor that names its claim. Of two
# claims of one token, concurrent or in the same statement, PostgreSQL lets one win (an UPDATE
# changes a row once). A grant refused after its claim gives it back (RELEASE_CLAIM).
# The token is found by its digest alone: the client and the "still usable" test are one row
# comparison that no index can serve. Written as `client_id = … AND … IS NULL`, those were index
# conditions too, and on a new or not yet analysed table (every estimate one row) the planner
# chose the client_id index over the primary key and kept that plan for the prepared statement:
# each claim then read every token of the client, and a run of rotations slowed by the thousand
# (tests/db/test_pg_plans.py; the join with the claims is kept to the primary key by the
# connections' settings, HOT_PATH_SETTINGS).
CLAIM_REFRESHES = (
    "WITH claimed AS (UPDATE refresh_tokens AS t SET rotated_at = c.at"
    " FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::timestamptz[])"
    " AS c (digest, successor, client_id, at)"
    " WHERE t.digest = c.digest AND (t.client_id, t.rotated_at, t.revoked_at)"
    " IS NOT DISTINCT FROM (c.client_id, NULL::timestamptz, NULL::timestamptz)"
    " RETURNING c.successor, c.at, t.digest, t.family_id, t.client_id, t.subject, t.scope,"
    " t.expires_at, t.sid, t.auth_time, t.acr, t.amr, t.nonce, t.created_at, t.revoked_at),"
    " successor AS (INSERT INTO refresh_tokens (digest, family_id, client_id, subject, scope, sid,"
    " auth_time, acr, amr, nonce, expires_at, created_at) SELECT successor, family_id,"
    " client_id, subject, scope, sid, auth_time, acr, amr, NULL, expires_at, at FROM claimed)"
    " SELECT * FROM claimed"
)
# the claim given back: the successor that was never sent goes, the token is usable again (unless
# a revocation reached it meanwhile, which stays)
RELEASE_CLAIM = (
    "WITH successor AS (DELETE FROM refresh_tokens WHERE digest = $2)"
    " UPDATE refresh_tokens SET rotated_at = NULL WHERE digest = $1 AND rotated_at = $3"
)
# a password login's second-factor facts (idp/mfa/factors.py login_facts): the client's `extra`
# (json) and whether the person enrolled an authenticator app or a passkey
LOGIN_FACTS = (
    "SELECT (SELECT extra FROM clients WHERE client_id = $1) AS client_extra,"
    " EXISTS (SELECT 1 FROM mfa_totp WHERE subject = $2)"
    " OR EXISTS (SELECT 1 FROM mfa_passkeys WHERE subject = $2) AS enrolled"
)
# the scopes a person granted a client and the ones they unticked (idp/protocols/oidc/policy.py):
# every authorization of an app that asks for consent reads it
CONSENTED_SCOPES = "SELECT scopes, declined FROM consents WHERE subject = $1 AND client_id = $2"
INSERT_AUDIT = (
    "INSERT INTO audit_events (at, kind, outcome, actor, client_id, ip, detail)"
    " SELECT * FROM unnest($1::timestamptz[], $2::varchar[], $3::varchar[], $4::varchar[],"
    " $5::varchar[], $6::varchar[], $7::json[])"
)
# after a connection was lost in the middle of an audit insert: which of its rows did commit
AUDIT_AT = ("SELECT at, kind, outcome, actor, client_id, ip FROM audit_events"
            " WHERE at = ANY($1::timestamptz[])")

# the attribute-release record's upsert (idp/db/releases.py): a batch of entries, each new or
# folded into its row; the batch's keys are distinct, as ON CONFLICT DO UPDATE requires
UPSERT_RELEASES = (
    "INSERT INTO attribute_releases (subject, client_id, day, claims, first_at, last_at, count)"
    " SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::date[], $4::varchar[],"
    " $5::timestamptz[], $6::timestamptz[], $7::integer[])"
    " ON CONFLICT ON CONSTRAINT uq_attribute_releases_key DO UPDATE SET"
    " first_at = LEAST(attribute_releases.first_at, excluded.first_at),"
    " last_at = GREATEST(attribute_releases.last_at, excluded.last_at),"
    " count = attribute_releases.count + excluded.count"
)

# a person's last-known copy (directory/last_known.py), written at every password login: the
# copy alone, or with the password columns (a hash kept for offline logins, or cleared)
_LAST_KNOWN = ("INSERT INTO dir_last_known (subject, username_key, person, seen_at{columns})"
               " VALUES ($1, $2, $3::json, $4{values}) ON CONFLICT (subject) DO UPDATE SET"
               " username_key = excluded.username_key, person = excluded.person,"
               " seen_at = excluded.seen_at{updates}")
UPSERT_LAST_KNOWN = _LAST_KNOWN.format(columns="", values="", updates="")
UPSERT_LAST_KNOWN_PASSWORD = _LAST_KNOWN.format(
    columns=", password_hash, password_at", values=", $5, $6",
    updates=", password_hash = excluded.password_hash, password_at = excluded.password_at")

# Every statement on these connections finds its rows by a key, and each is planned once per
# connection (a generic plan): for a statement with array parameters PostgreSQL otherwise makes
# a custom plan at every call, which cost the claim ~240 µs instead of ~180 (measured in
# a loop of claims, bench/README.md "fifth"). A generic plan is made without
# the parameters' values; on a new table the planner would then join the claims to a
# sequential scan of refresh_tokens and keep that plan as the table grows. So the scans and joins
# that only a statement reading many rows needs are priced out (PostgreSQL still uses them when
# nothing else can answer: never an error).
HOT_PATH_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off",
                     "enable_hashjoin": "off", "enable_mergejoin": "off"}
# set once a connection is open, not as startup parameters: a pooler in front of PostgreSQL
# (PgBouncer) refuses startup parameters it does not know
_SET_HOT_PATH = "; ".join(f"SET {name} = {value}" for name, value in HOT_PATH_SETTINGS.items())
# claims of refresh tokens made within this many seconds of the last statement go together
# (idp/db/grouped.py); a claim waits at most this long, and only while others keep coming
CLAIM_WINDOW = 0.002
CLAIMS_PER_STATEMENT = 64

# the server or the network failed, not the statement: callers answer 503 and retry later
_OUTAGES = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
            asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
            asyncpg.exceptions.InsufficientResourcesError)  # too many connections, disk full
# URL options that SQLAlchemy's asyncpg dialect takes for itself (asyncpg.connect refuses them)
_DIALECT_ONLY = ("async_fallback", "prepared_statement_cache_size", "prepared_statement_name_func")


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or dropped the connection."""


class PgDirect:
    """The hot-path statements of one database. Its connections belong to the event loop that
    first used them (a new loop, as in the CLI's successive asyncio.run calls, opens new ones)."""

    def __init__(self, engine: AsyncEngine, size: int = POOL_SIZE) -> None:
        self._connect = engine.dialect.create_connect_args(engine.url)
        self._size = size
        self._open: _InLoop | None = None

    # --- refresh tokens -----------------------------------------------------------------------

    async def refresh_row(self, digest: str) -> dict[str, Any] | None:
        """The row of refresh_tokens with this digest, by column name (amr decoded)."""
        row = await self._run("fetchrow", SELECT_REFRESH, digest)
        if row is None:
            return None
        values = dict(row.items())
        values["amr"] = json.loads(values["amr"]) if values["amr"] is not None else []
        return values

    async def claim_refresh(self, digest: str, successor: str, client_id: str,
                            now: datetime) -> dict[str, Any] | None:
        """Claim refresh token `digest` for `client_id` at `now` and insert its successor
        (CLAIM_REFRESHES, with the claims of other grants made at the same moment): the row as
        it was before, or None when it is not the client's, not usable, or unknown."""
        return await self._open_here().claims((digest, successor, client_id, now))

    async def _claim_group(self, claims: list[tuple[str, str, str, datetime]]
                           ) -> list[dict[str, Any] | None]:
        digests, successors, clients, ats = (list(column) for column in zip(*claims, strict=True))
        rows = await self._run("fetch", CLAIM_REFRESHES, digests, successors, clients, ats)
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            values = dict(row.items())
            del values["at"]
            values["amr"] = json.loads(values["amr"]) if values["amr"] is not None else []
            found[values.pop("successor")] = values
        return [found.get(successor) for successor in successors]

    async def release_claim(self, digest: str, successor: str, claimed_at: datetime) -> None:
        await self._run("execute", RELEASE_CLAIM, digest, successor, claimed_at)

    async def insert_refresh(self, values: dict[str, Any]) -> None:
        await self._run("execute", INSERT_REFRESH, *_new_row(values))

    async def rotate_refresh(self, values: dict[str, Any], rotated: str, now: datetime) -> bool:
        """Insert `values` and mark `rotated` rotated at `now`, if it still was usable: True.
        False when a concurrent request rotated it first (then nothing is written)."""
        status = await self._run("execute", ROTATE_REFRESH, *_new_row(values), now, rotated)
        return bool(status == "INSERT 0 1")

    # --- logins and authorizations ------------------------------------------------------------

    async def upsert_last_known(self, subject: str, values: dict[str, Any]) -> bool:
        """directory/last_known.py's write of a person's copy (its `values`: username_key,
        person, seen_at, and password_hash with password_at when the password columns go too).
        False when PostgreSQL is out of reach or refuses it: logged here, and the login goes on
        (the copy is a fallback, not the record); any other error is a bug and raises."""
        person = json.dumps(values["person"])
        try:
            if "password_hash" in values:
                await self._run("execute", UPSERT_LAST_KNOWN_PASSWORD, subject,
                                values["username_key"], person, values["seen_at"],
                                values["password_hash"], values["password_at"])
            else:
                await self._run("execute", UPSERT_LAST_KNOWN, subject, values["username_key"],
                                person, values["seen_at"])
        except (DatabaseUnavailable, asyncpg.PostgresError) as exc:
            log.warning("could not keep the last-known person: %s", exc)
            return False
        return True

    async def login_facts(self, client_id: str, subject: str) -> tuple[dict[str, Any] | None,
                                                                       bool]:
        row = await self._run("fetchrow", LOGIN_FACTS, client_id, subject)
        extra = json.loads(row["client_extra"]) if row["client_extra"] is not None else None
        return extra, bool(row["enrolled"])

    async def consented_scopes(self, subject: str, client_id: str
                               ) -> tuple[list[str], list[str]] | None:
        """(granted, declined) of the person's consent to the client; None when there is none."""
        row = await self._run("fetchrow", CONSENTED_SCOPES, subject, client_id)
        if row is None:
            return None
        return (json.loads(row["scopes"]) if row["scopes"] is not None else [],
                json.loads(row["declined"]) if row["declined"] is not None else [])

    # --- audit --------------------------------------------------------------------------------

    async def insert_audit(self, rows: Sequence[dict[str, Any]]) -> None:
        """Every row in one statement (one transaction): all are written or none."""
        columns: list[list[Any]] = [[], [], [], [], [], [], []]
        for row in rows:
            for index, value in enumerate((row["at"], row["kind"], row["outcome"], row["actor"],
                                           row["client_id"], row["ip"])):
                columns[index].append(value)
            columns[6].append(json.dumps(row["detail"]))
        await self._run("execute", INSERT_AUDIT, *columns)

    async def audit_written(self, ats: Sequence[datetime]) -> set[tuple[Any, ...]]:
        """(at, kind, outcome, actor, client_id, ip) of the rows written at these times."""
        rows = await self._run("fetch", AUDIT_AT, list(ats))
        return {tuple(row.values()) for row in rows}

    # --- the attribute-release record ---------------------------------------------------------

    async def upsert_releases(self, rows: Sequence[dict[str, Any]]) -> None:
        """Every row in one statement (one transaction): all are written or none."""
        names = ("subject", "client_id", "day", "claims", "first_at", "last_at", "count")
        await self._run("execute", UPSERT_RELEASES, *([row[name] for row in rows] for name in names))

    # --- the connections ----------------------------------------------------------------------

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        connections = self._open_here().connections
        connection = await connections.acquire()
        try:
            return await getattr(connection, method)(sql, *args, timeout=TIMEOUT_SECONDS)
        except _OUTAGES as exc:
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            connections.release(connection)

    def _open_here(self) -> _InLoop:
        loop = asyncio.get_running_loop()
        if self._open is None or self._open.connections.loop is not loop:
            # the first use in this loop (a loop that ended took its connections with it)
            self._open = _InLoop(Connections(self._connect, self._size, loop),
                                 Grouped(self._claim_group, loop, window=CLAIM_WINDOW,
                                         limit=CLAIMS_PER_STATEMENT))
        return self._open

    async def close(self) -> None:
        open_, self._open = self._open, None
        if open_ is not None and open_.connections.loop is asyncio.get_running_loop():
            await open_.connections.close()


@dataclass(frozen=True)
class _InLoop:
    """What a PgDirect holds in one event loop: its connections and its grouped claims."""

    connections: Connections
    claims: Grouped[tuple[str, str, str, datetime], dict[str, Any] | None]


class Connections:
    """At most `size` asyncpg connections of one event loop, opened when first needed.

    asyncpg's own pool wraps every checkout and every release in a timeout and a shield (with
    the reset round trip it would also do, ~45 µs of CPU per statement, a twentieth of a
    refresh_token grant). Here a checkout takes an idle connection from a list; when all are
    busy it waits (at most TIMEOUT_SECONDS) for the next one released. A connection the server
    closed is dropped when it is found closed, and a new one is opened in its place."""

    def __init__(self, connect: tuple[list[Any], dict[str, Any]], size: int,
                 loop: asyncio.AbstractEventLoop) -> None:
        args, kwargs = connect
        self._args = args
        self._kwargs = {key: value for key, value in kwargs.items() if key not in _DIALECT_ONLY}
        self._size = size
        self.loop = loop
        self._idle: list[asyncpg.Connection] = []
        self._count = 0  # open or opening, idle or in use
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._closed = False

    async def acquire(self) -> asyncpg.Connection:
        while True:
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._count -= 1
            if self._count < self._size:
                return await self._connect()
            connection = await self._wait()
            if connection is not None:
                return connection
            # None: a broken connection was dropped, so there is room to open one

    async def _connect(self) -> asyncpg.Connection:
        self._count += 1
        try:
            connection = await asyncpg.connect(*self._args, **self._kwargs,
                                               timeout=TIMEOUT_SECONDS)
            try:
                await connection.execute(_SET_HOT_PATH, timeout=TIMEOUT_SECONDS)
            except BaseException:
                connection.terminate()
                raise
            return connection
        except BaseException as exc:
            self._count -= 1
            self._hand_over(None)  # a waiter may try in its turn
            if isinstance(exc, (*_OUTAGES, asyncpg.PostgresError)):
                # whatever the server's reason (refused, not accepting connections,
                # authentication), the database is unavailable to this request
                raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
            raise

    async def _wait(self) -> asyncpg.Connection | None:
        waiter: asyncio.Future[asyncpg.Connection | None] = self.loop.create_future()
        self._waiters.append(waiter)
        timer = self.loop.call_later(TIMEOUT_SECONDS, _time_out, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # cancelled after a connection was handed over: give it to the next one
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # type: ignore[arg-type]
            raise
        except TimeoutError as exc:
            raise DatabaseUnavailable("no database connection free within "
                                      f"{TIMEOUT_SECONDS:.0f} s") from exc
        finally:
            timer.cancel()

    def release(self, connection: asyncpg.Connection) -> None:
        if self._closed or connection.is_closed():
            self._count -= 1
            if not connection.is_closed():
                connection.terminate()
            self._hand_over(None)
        elif not self._hand_over(connection):
            self._idle.append(connection)

    def _hand_over(self, value: asyncpg.Connection | None) -> bool:
        """Wake the longest waiter with a connection (or None: open your own)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(value)
                return True
        return False

    async def close(self) -> None:
        """Close the idle connections; those in use are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._count -= len(idle)
        for connection in idle:
            try:
                await connection.close(timeout=TIMEOUT_SECONDS)
            except (*_OUTAGES, asyncpg.PostgresError):
                connection.terminate()


def _time_out(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _new_row(values: dict[str, Any]) -> list[Any]:
    row = [values[name] for name in NEW_REFRESH]
    row[8] = json.dumps(row[8] or [])  # amr, a json column
    return row


_directs: weakref.WeakKeyDictionary[AsyncEngine, PgDirect] = weakref.WeakKeyDictionary()


def pg_direct(engine: AsyncEngine) -> PgDirect | None:
    """The hot-path statements for this engine's database; None unless it is PostgreSQL."""
    if engine.dialect.name != "postgresql":
        return None
    direct = _directs.get(engine)
    if direct is None:
        direct = _directs[engine] = PgDirect(engine)
    return direct


async def close_pg_direct(engine: AsyncEngine) -> None:
    """Close the pool; the next statement (from a later event loop, say) opens a new one."""
    direct = _directs.get(engine)
    if direct is not None:
        await direct.close()
