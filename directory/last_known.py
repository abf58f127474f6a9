"""Directory-outage degradation: the last-known person, kept durably, and opt-in offline logins.

`LastKnownDirectory` wraps the campus directory (LDAP) and behaves exactly like it while it
answers. Meanwhile it keeps, in the IdP's database (table dir_last_known), each person as the
directory last confirmed them, and when it was. When every LDAP server is unreachable
(DirectoryUnavailable):

- `by_subject` answers with that copy, if it is at most `max_staleness` old: people already
  signed in keep going into further apps, refreshing tokens and calling userinfo, and see the
  same claims as before. A person the directory no longer knows, one an admin changed through
  the IdP since the copy was made, and any copy older than that get the outage (a 503).
- `authenticate`, only with `offline_login`: the password is checked against an argon2id hash
  of the last password the directory accepted for that person, kept at most
  `offline_login_days`, never for members of `never_offline_groups` (admins), and dropped as
  soon as the directory refuses the person as locked, disabled, expired or due a change, or
  the person changes the password here. The copy itself must be within `max_staleness` too.
  The person comes back with `as_of` set, so the IdP audits the login as "offline".

Each served copy carries `as_of` (when the directory confirmed it). Nothing is switched: every
call asks the directory first, so the moment it answers again everything is live again, with
no restart. Why a wrapper in the directory package and a table of its own: outages are the
directory's business (the IdP's layers above only ever see a Directory), the directory package
already owns SQL tables (the local directory's), and the copy must survive restarts and be
shared by replicas, which the Store (short-lived, maybe in-process) would not do.

Writes are cheap on the hot path: a login writes its row once; `by_subject` rewrites a person
only when they changed or their row is `refresh_every` seconds old (the age it reports is then
at most that much older than the truth: an overstatement, never an understatement).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from directory.base import (
    Account,
    AccountDisabled,
    AccountLocked,
    Directory,
    DirectoryUnavailable,
    Facts,
    Group,
    InvalidCredentials,
    MustChangePassword,
    PasswordExpired,
    Person,
    username_key,
)
from directory.last_known_schema import DirLastKnown

log = logging.getLogger(__name__)
T = TypeVar("T")

# what the IdP is told, for /metrics: "person" a copy served, "login" an offline login let in,
# "refused" an offline login that could not be checked, "down" / "up" the directory's state
LastKnownObserver = Callable[[str], None]
DAY = 86400.0
HOUSEKEEPING_EVERY = 600.0  # seconds between sweeps of expired hashes and rows
# argon2id, OWASP's minimum (19 MiB, t=2, p=1), as the local directory hashes passwords
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# the refused states: the directory would not let this person sign in, so offline neither may
REFUSED = (AccountLocked, AccountDisabled, PasswordExpired, MustChangePassword)


def no_observer(event: str) -> None:
    return None


# writes one person's copy: (subject, {username_key, person, seen_at[, password_hash,
# password_at]}), as the upserts built by `_upsert` do
PersonUpsert = Callable[[str, dict[str, Any]], Awaitable[bool]]  # False: not written


@dataclass(frozen=True, slots=True)
class LastKnownConfig:
    max_staleness: float  # seconds: an older copy is never served
    offline_login: bool = False
    offline_login_days: float = 7
    never_offline_groups: frozenset[str] = frozenset()

    @property
    def refresh_every(self) -> float:
        return min(300.0, self.max_staleness / 10)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite: naive


# what a last-known copy keeps: the fields a Person compares and hashes (all but notice, as_of),
# so hash(person) fingerprints exactly what would be written
_PERSON_FIELDS = [f.name for f in fields(Person) if f.compare]


def _person(data: dict[str, Any], as_of: float) -> Person:
    values = {name: data.get(name) for name in _PERSON_FIELDS}
    for name in ("affiliations", "entitlements", "groups"):
        values[name] = tuple(values[name] or ())
    values["disabled"] = bool(values["disabled"])
    return Person(**values, as_of=as_of)


def _upsert(dialect: str, with_password: bool) -> Any:
    """INSERT … ON CONFLICT (subject) DO UPDATE of a person's row, its values bound by name."""
    table = DirLastKnown.__table__
    names = ["username_key", "person", "seen_at"]
    if with_password:
        names += ["password_hash", "password_at"]
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in ["subject", *names]})
    return statement.on_conflict_do_update(
        index_elements=[table.c.subject], set_={name: statement.excluded[name] for name in names})


class LastKnownDirectory:
    """`inner` while it answers; its last-known people while it cannot. See the docstring."""

    def __init__(self, inner: Directory, engine: AsyncEngine, config: LastKnownConfig,
                 observer: LastKnownObserver = no_observer,
                 clock: Callable[[], float] = time.time,
                 upsert: PersonUpsert | None = None) -> None:
        if config.max_staleness <= 0:
            raise ValueError("a last-known directory needs a positive max staleness")
        self.inner = inner
        self.name = inner.name
        self.config = config
        self._observe = observer
        self._clock = clock
        self._db = async_sessionmaker(engine, expire_on_commit=False)
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._dialect = engine.dialect.name
        # every login writes its person: the upsert is built once, by whether it also writes
        # the password columns, and only its values change (built per call, the statement cost
        # ~0.7 ms of CPU to construct and compile, an eighth of a password login)
        self._upserts = {with_password: _upsert(self._dialect, with_password)
                         for with_password in (False, True)}
        # the same write without SQLAlchemy's execution layer (~200 µs of CPU a login), which
        # the IdP gives on PostgreSQL (idp/db/pg_direct.py)
        self._upsert_direct = upsert
        self._hashing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="last-known")
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()
        self._written: dict[str, tuple[int, float]] = {}  # subject -> (fingerprint, when)
        self._unconfirmed: set[str] = set()  # changed by an admin here since the last read
        # where `_invalidate`, called from LDAP threads, sends its database write
        self._loop: asyncio.AbstractEventLoop | None = _running_loop()
        self._swept = 0.0
        listen = getattr(inner, "on_forget", None)
        if listen is not None:
            listen(self._invalidate)

    # --- the Directory protocol ------------------------------------------------------------------

    async def authenticate(self, username: str, password: str) -> Person:
        self._loop = asyncio.get_running_loop()
        try:
            person = await self.inner.authenticate(username, password)
        except DirectoryUnavailable as outage:
            self._observe("down")
            if not self.config.offline_login:
                raise
            return await self._offline_login(username, password, outage)
        except REFUSED:
            await self._drop_password(username)
            raise
        self._observe("up")
        await self._remember(person, password)
        return person

    async def by_subject(self, subject: str) -> Person | None:
        self._loop = asyncio.get_running_loop()
        try:
            person = await self.inner.by_subject(subject)
        except DirectoryUnavailable:
            self._observe("down")
            kept = await self._kept(subject)
            if kept is None:
                raise
            self._observe("person")
            return kept
        self._observe("up")
        if person is None:
            await self._write(delete(DirLastKnown).where(DirLastKnown.subject == subject))
        else:
            await self._remember(person)
        return person

    async def locate(self, username: str) -> Account | None:
        try:
            return await self.inner.locate(username)
        except DirectoryUnavailable:
            if not self.config.offline_login:
                raise
            # the throttle counts an offline attempt against the same entry as an online one
            row = await self._row_by_name(username)
            return Account(row.subject, str(row.person.get("username"))) if row else None

    async def find(self, username: str) -> Person | None:
        return await self.inner.find(username)

    async def identities(self, person: Person) -> tuple[Person, ...]:
        """The linked identities while the directory answers; during an outage only the entry
        signed in with (its links cannot be checked, and a copy is no proof of them)."""
        try:
            return await self.inner.identities(person)
        except DirectoryUnavailable:
            return (person,)

    async def facts(self, username: str, attributes: tuple[str, ...]) -> Facts | None:
        return await self.inner.facts(username, attributes)  # never from the copy: it has none

    async def groups(self) -> list[Group]:
        return await self.inner.groups()

    async def check(self) -> str:
        return await self.inner.check()

    async def lockout_threshold(self, username: str) -> int | None:
        return await self.inner.lockout_threshold(username)

    async def change_password(self, username: str, old_password: str, new_password: str) -> None:
        await self.inner.change_password(username, old_password, new_password)
        await self._drop_password(username)  # the old one is no longer the directory's

    def forget(self, subject: str) -> None:
        forget = getattr(self.inner, "forget", None)
        if forget is not None:
            forget(subject)  # and the inner directory tells us (on_forget)

    async def close(self) -> None:
        self._hashing.shutdown(wait=False, cancel_futures=True)
        await self.inner.close()

    def fallback(self) -> str:
        """What this directory still does during an outage, for /readyz."""
        days = f", offline login up to {self.config.offline_login_days:g} days" \
            if self.config.offline_login else ""
        return f"serving people last seen up to {self.config.max_staleness:.0f} s ago{days}"

    # --- serving the copy ------------------------------------------------------------------------

    async def _kept(self, subject: str) -> Person | None:
        if subject in self._unconfirmed:
            return None
        async with self._db() as db:
            row = await db.get(DirLastKnown, subject)
        if row is None:
            return None
        seen = _aware(row.seen_at).timestamp()
        if self._clock() - seen > self.config.max_staleness:
            return None
        return _person(row.person, seen)

    async def _row_by_name(self, username: str) -> DirLastKnown | None:
        key = username_key(username)
        if not key or not key.isprintable():
            return None
        async with self._db() as db:
            rows = list(await db.scalars(
                select(DirLastKnown).where(DirLastKnown.username_key == key).limit(2)))
        return rows[0] if len(rows) == 1 else None  # two people once had this name: neither

    async def _offline_login(self, username: str, password: str,
                             outage: DirectoryUnavailable) -> Person:
        row = await self._row_by_name(username)
        now = self._clock()
        usable = (
            row is not None and row.password_hash is not None and row.password_at is not None
            and row.subject not in self._unconfirmed
            and now - _aware(row.password_at).timestamp() <= self.config.offline_login_days * DAY
            and now - _aware(row.seen_at).timestamp() <= self.config.max_staleness
            and not row.person.get("disabled") and not self._privileged(row.person)
        )
        # the same argon2 work whether or not there is anything to check (timing tells nothing)
        stored = row.password_hash if usable and row is not None else await self._dummy()
        matches = await self._cpu(_verify, stored, password)
        if not usable or row is None:
            self._observe("refused")
            raise outage
        if not matches:
            raise InvalidCredentials(detail="offline: not the last password the directory accepted")
        self._observe("login")
        return _person(row.person, _aware(row.seen_at).timestamp())

    def _privileged(self, person: dict[str, Any] | Person) -> bool:
        groups = person.groups if isinstance(person, Person) else person.get("groups") or ()
        return bool(self.config.never_offline_groups.intersection(groups))

    # --- keeping the copy ------------------------------------------------------------------------

    async def _remember(self, person: Person, password: str | None = None) -> None:
        """Write the person as the directory just confirmed them (and, at a login, the hash of
        the password it accepted), unless an unchanged copy was written moments ago."""
        subject, now = person.subject, self._clock()
        fingerprint = hash(person)
        with self._lock:
            unconfirmed = subject in self._unconfirmed
            written = self._written.get(subject)
        if (password is None and not unconfirmed and written is not None
                and written[0] == fingerprint and now - written[1] < self.config.refresh_every):
            return
        data = {name: getattr(person, name) for name in _PERSON_FIELDS}
        data.update({name: list(data[name]) for name in ("affiliations", "entitlements", "groups")})
        values: dict[str, Any] = {"username_key": username_key(person.username)[:256],
                                  "person": data, "seen_at": datetime.fromtimestamp(now, UTC)}
        may_keep = self.config.offline_login and not person.disabled \
            and not self._privileged(person)
        if password is not None or not may_keep:
            keep = password is not None and may_keep
            values["password_hash"] = await self._cpu(HASHER.hash, password) if keep else None
            values["password_at"] = values["seen_at"] if keep else None
        if self._upsert_direct is not None:
            # the upsert logs its database's failures itself (this package cannot name them)
            written = await self._upsert_direct(subject, values)
        else:
            written = await self._write(self._upserts["password_hash" in values],
                                        {"subject": subject, **values})
        if written:
            with self._lock:
                self._unconfirmed.discard(subject)
                self._written[subject] = (fingerprint, now)
                if len(self._written) > 50_000:  # a bound, not a cache: forget the oldest half
                    for old in list(self._written)[:25_000]:
                        del self._written[old]
        await self._housekeeping(now)

    async def _drop_password(self, username: str) -> None:
        """The directory refused this person (or took a new password): no offline login with
        what was kept. Keyed on the entry, whatever spelling was typed, when it can be found."""
        try:
            account = await self.inner.locate(username)
        except DirectoryUnavailable:
            account = None
        where = (DirLastKnown.subject == account.key if account is not None
                 else DirLastKnown.username_key == username_key(username))
        await self._write(update(DirLastKnown).where(where)
                          .values(password_hash=None, password_at=None))

    def _invalidate(self, subject: str) -> None:
        """An admin changed the person through the IdP (any thread): the copy is no longer
        what the directory holds, so it is not served until the directory confirms it again."""
        with self._lock:
            self._unconfirmed.add(subject)
            self._written.pop(subject, None)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            statement = (update(DirLastKnown).where(DirLastKnown.subject == subject)
                         .values(seen_at=datetime.fromtimestamp(0, UTC)))
            asyncio.run_coroutine_threadsafe(self._write(statement), loop)

    async def _housekeeping(self, now: float) -> None:
        """Hashes older than the offline window, and rows too old to serve, go (at most every
        HOUSEKEEPING_EVERY seconds per process)."""
        if now - self._swept < HOUSEKEEPING_EVERY:
            return
        self._swept = now
        hashes_until = now - (self.config.offline_login_days * DAY if self.config.offline_login
                              else -DAY)  # offline login off: every hash goes
        await self._write(update(DirLastKnown)
                          .where(DirLastKnown.password_at < datetime.fromtimestamp(hashes_until, UTC))
                          .values(password_hash=None, password_at=None))
        await self._write(delete(DirLastKnown).where(
            DirLastKnown.seen_at < datetime.fromtimestamp(now - self.config.max_staleness, UTC)))

    async def _write(self, statement: Any, values: dict[str, Any] | None = None) -> bool:
        """Run one write. The copy is a fallback, never the truth: a database that fails here
        must not fail the request the directory just answered (the failure is logged, the copy
        is left as it was and the next request writes it again)."""
        try:
            # one statement, so no transaction around it: BEGIN and COMMIT would be two more
            # round trips
            async with self._autocommit.connect() as connection:
                await connection.execute(statement, values)
            return True
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not keep the last-known person: %s", exc)
            return False

    # --- hashing off the event loop --------------------------------------------------------------

    async def _cpu(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._hashing, function, *args)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._cpu(HASHER.hash, "no person has this password")
        return self._dummy_hash


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
