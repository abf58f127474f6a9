"""The audit log: search with filters, page through it, export it as CSV (streamed in batches,
so a year of events never sits in memory; no cell a spreadsheet would evaluate, csv_cells.py),
and what the dashboard draws: sign-ins per hour per app, failures by reason, refused accounts,
tokens by grant, SSO sessions. Every series is one GROUP BY over the audit log (its `at`
index), so a week's range costs one query per chart, not one per hour."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, func, or_, select

from directory.base import DirectoryError
from idp.admin.service_common import Invalid
from idp.db.models import AuditEvent, Client
from idp.http.csv_cells import csv_line
from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT
from idp.sso.throttle import PREFIX as THROTTLE_PREFIX

if TYPE_CHECKING:
    from idp.services import Services

MAX_PAGE_SIZE = 500
EXPORT_BATCH = 1000
CSV_COLUMNS = ("id", "at", "kind", "outcome", "actor", "client_id", "ip", "detail")
MAX_STATS_HOURS = 24 * 14


@dataclass
class AuditFilter:
    kind: str | None = None
    outcome: str | None = None
    actor: str | None = None
    client_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def checked(self) -> AuditFilter:
        for name in ("kind", "outcome", "actor", "client_id"):
            value = getattr(self, name)
            if value is not None and (len(value) > 200 or not value.isprintable()):
                raise Invalid(f"{name}: at most 200 printable characters")
            setattr(self, name, (value.strip() or None) if isinstance(value, str) else None)
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=UTC))  # a bare time is read as UTC
        if self.since and self.until and self.since > self.until:
            raise Invalid("'from' is after 'to'")
        return self

    def apply(self, statement: Select[Any]) -> Select[Any]:
        for column, value in ((AuditEvent.kind, self.kind), (AuditEvent.outcome, self.outcome),
                              (AuditEvent.actor, self.actor), (AuditEvent.client_id, self.client_id)):
            if value:
                statement = statement.where(column == value)
        if self.since:
            statement = statement.where(AuditEvent.at >= self.since)
        if self.until:
            statement = statement.where(AuditEvent.at < self.until)
        return statement


@dataclass
class AuditPage:
    items: list[AuditEvent]
    page: int
    size: int
    has_more: bool


async def search(services: Services, where: AuditFilter, page: int = 1, size: int = 50) -> AuditPage:
    """Newest first."""
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE or page > 100_000:
        raise Invalid(f"page starts at 1; size is 1 to {MAX_PAGE_SIZE}")
    statement = where.checked().apply(select(AuditEvent)).order_by(AuditEvent.id.desc())
    statement = statement.offset((page - 1) * size).limit(size + 1)
    await services.audit.caught_up()  # the tokens just issued too (written behind)
    async with services.db() as db:
        rows = list((await db.execute(statement)).scalars())
    return AuditPage(rows[:size], page, size, len(rows) > size)


def event_row(event: AuditEvent) -> list[str]:
    return [str(event.id), event.at.isoformat(), event.kind, event.outcome, event.actor or "",
            event.client_id or "", event.ip or "",
            json.dumps(event.detail or {}, ensure_ascii=False, sort_keys=True, default=str)]


async def export_csv(services: Services, where: AuditFilter) -> AsyncIterator[str]:
    """The matching events as CSV lines (header first), newest first, read in batches by id
    (keyset paging: every batch is an index range scan, however deep the export goes).

    The first batch is read before this returns, so a database that cannot be reached is an
    error answer (a 503), not a 200 whose body breaks off."""
    where = where.checked()
    await services.audit.caught_up()
    first = await _export_batch(services, where, None)

    async def lines() -> AsyncIterator[str]:
        yield csv_line(list(CSV_COLUMNS))
        rows = first
        while rows:
            yield "".join(csv_line(event_row(event)) for event in rows)
            rows = await _export_batch(services, where, rows[-1].id)

    return lines()


async def _export_batch(services: Services, where: AuditFilter,
                        below: int | None) -> list[AuditEvent]:
    statement = where.apply(select(AuditEvent)).order_by(AuditEvent.id.desc()).limit(EXPORT_BATCH)
    if below is not None:
        statement = statement.where(AuditEvent.id < below)
    async with services.db() as db:
        return list((await db.execute(statement)).scalars())


@dataclass
class HourlyStats:
    hours: list[datetime]  # the start of each hour, oldest first (UTC)
    series: dict[str, list[int]]  # client_id -> count per hour
    names: dict[str, str]  # client_id -> client name (when it still exists)

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.series.values())


def _hour_expression(dialect: str) -> Any:
    if dialect == "postgresql":
        # in UTC whatever the connection's TimeZone is
        utc = func.timezone("UTC", AuditEvent.at)
        return func.to_char(func.date_trunc("hour", utc), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", AuditEvent.at)


# the grants whose tokens mean that a person signed in to the app
SIGN_IN_GRANTS = ("authorization_code", DEVICE_CODE_GRANT)
# login outcomes that are not a failure: signed in (offline: against the last known password)
SIGNED_IN = ("success", "offline")
# the right password, and a new one to choose first (web/login.py): not a failed sign-in either
NOT_FAILED = (*SIGNED_IN, "password_expired", "must_change_password")


def _window(hours: int, now: datetime | None) -> tuple[datetime, datetime, list[datetime]]:
    """(start, end, the start of each hour): the last `hours` whole hours, the current one last."""
    if not 1 <= hours <= MAX_STATS_HOURS:
        raise Invalid(f"hours is 1 to {MAX_STATS_HOURS}")
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end += timedelta(hours=1)
    start = end - timedelta(hours=hours)
    return start, end, [start + timedelta(hours=n) for n in range(hours)]


async def _hourly(services: Services, hours: int, now: datetime | None, key: Any,
                  *where: Any, distinct_actors: bool = False
                  ) -> tuple[list[datetime], dict[str, list[int]]]:
    """Events matching `where` in each of the last `hours` hours, one series per value of `key`
    (events whose key is NULL are left out). One GROUP BY query, whatever the range."""
    start, end, slots = _window(hours, now)
    hour = _hour_expression(services.engine.dialect.name).label("hour")
    count = func.count(AuditEvent.actor.distinct()) if distinct_actors else func.count()
    statement = (select(hour, key, count)
                 .where(*where, AuditEvent.at >= start, AuditEvent.at < end)
                 .group_by(hour, key))
    index = {slot.strftime("%Y-%m-%d %H"): n for n, slot in enumerate(slots)}
    series: dict[str, list[int]] = {}
    await services.audit.caught_up()
    async with services.db() as db:
        for bucket, value, counted in await db.execute(statement):
            position = index.get(str(bucket))
            if position is None or value is None:
                continue
            series.setdefault(str(value), [0] * hours)[position] += int(counted)
    return slots, dict(sorted(series.items()))


async def sign_ins_per_hour(services: Services, hours: int = 24,
                            now: datetime | None = None) -> HourlyStats:
    """Sign-ins into each app per hour: authorization codes redeemed and devices signed in
    (kind "token", grant authorization_code or the device grant), so single sign-on counts as
    well as typed passwords."""
    slots, series = await _hourly(
        services, hours, now, AuditEvent.client_id,
        AuditEvent.kind == "token", AuditEvent.outcome == "success",
        AuditEvent.detail["grant"].as_string().in_(SIGN_IN_GRANTS))
    async with services.db() as db:
        names = dict((await db.execute(
            select(Client.client_id, Client.name).where(Client.client_id.in_(sorted(series))))).all())
    return HourlyStats(slots, series, names)


@dataclass
class Dashboard:
    """What the console's dashboard draws, each per hour over the same hours."""

    sign_ins: HourlyStats  # per app
    failures: dict[str, int]  # failed sign-ins (passwords) by reason, over the whole range
    refused: dict[str, list[int]]  # "throttled" / "locked": distinct accounts per hour
    tokens: dict[str, list[int]]  # tokens issued per grant type
    sessions: dict[str, list[int]]  # "started" / "ended": SSO sessions per hour
    active_sessions: int  # SSO sessions alive now (the Store)
    throttled_now: int  # accounts the login throttle refuses now (the Store)

    @property
    def hours(self) -> list[datetime]:
        return self.sign_ins.hours


async def failures_by_reason(services: Services, hours: int = 24,
                             now: datetime | None = None) -> dict[str, int]:
    """Failed password sign-ins in the range, by reason (invalid_credentials, throttled,
    account_locked, directory_unavailable, ...), the most frequent first."""
    start, end, _ = _window(hours, now)
    statement = (select(AuditEvent.outcome, func.count())
                 .where(AuditEvent.kind == "login", AuditEvent.outcome.not_in(NOT_FAILED),
                        AuditEvent.at >= start, AuditEvent.at < end)
                 .group_by(AuditEvent.outcome))
    async with services.db() as db:
        rows = [(str(outcome), int(count)) for outcome, count in await db.execute(statement)]
    return dict(sorted(rows, key=lambda row: (-row[1], row[0])))


async def refused_accounts(services: Services, hours: int = 24,
                           now: datetime | None = None) -> dict[str, list[int]]:
    """Accounts refused per hour: by the login throttle, and locked by the directory (each
    account once an hour, however often it tried)."""
    _, series = await _hourly(services, hours, now, AuditEvent.outcome,
                              AuditEvent.kind == "login",
                              AuditEvent.outcome.in_(("throttled", "account_locked")),
                              distinct_actors=True)
    return {"throttled": series.get("throttled", [0] * hours),
            "locked": series.get("account_locked", [0] * hours)}


async def tokens_by_grant(services: Services, hours: int = 24,
                          now: datetime | None = None) -> dict[str, list[int]]:
    """Tokens issued per hour per grant type (authorization_code, refresh_token, ...)."""
    grant = AuditEvent.detail["grant"].as_string()
    _, series = await _hourly(services, hours, now, grant,
                              AuditEvent.kind == "token", AuditEvent.outcome == "success")
    return series


async def sessions_per_hour(services: Services, hours: int = 24,
                            now: datetime | None = None) -> dict[str, list[int]]:
    """SSO sessions started (a person signed in) and ended (signed out) per hour."""
    _, series = await _hourly(
        services, hours, now, AuditEvent.kind,
        or_(and_(AuditEvent.kind == "login", AuditEvent.outcome.in_(SIGNED_IN)),
            and_(AuditEvent.kind == "logout", AuditEvent.outcome == "success")))
    return {"started": series.get("login", [0] * hours), "ended": series.get("logout", [0] * hours)}


async def active_sessions(services: Services) -> int:
    """SSO sessions alive now: their keys in the Store (idp/sso/sessions.py), which expire with
    the sessions, so the count needs no bookkeeping (a SCAN on Redis: fine for a dashboard)."""
    return len(await services.store.keys("sso:"))


async def throttled_accounts(services: Services) -> int:
    """Accounts the login throttle refuses now: its refusal keys (idp/sso/throttle.py), one
    SCAN, however many addresses an attack left counters for."""
    return len(await services.store.keys(f"{THROTTLE_PREFIX}block:acct:"))


async def dashboard(services: Services, hours: int = 24, now: datetime | None = None) -> Dashboard:
    return Dashboard(
        sign_ins=await sign_ins_per_hour(services, hours, now),
        failures=await failures_by_reason(services, hours, now),
        refused=await refused_accounts(services, hours, now),
        tokens=await tokens_by_grant(services, hours, now),
        sessions=await sessions_per_hour(services, hours, now),
        active_sessions=await active_sessions(services),
        throttled_now=await throttled_accounts(services))


# --- who the actors are ------------------------------------------------------------------------

ACTOR_CACHE_SECONDS = 3600  # a subject's username rarely changes; a rename shows within the hour
ACTOR_KEY = "audit-actor:"
MAX_ACTORS = 500


async def actor_names(services: Services, actors: set[str]) -> dict[str, str]:
    """The username behind each actor that is a subject (token events name the person by the
    token's subject; logins and admin actions by username). Answers come from the Store first
    (one read for the whole page, shared by every replica), then one directory look-up per
    subject not seen within the hour, not one per row; an actor that is not a subject (a
    username, a client id) is remembered as such. Actors the directory cannot resolve now (an
    outage) are left as they are: the audit log stays readable."""
    wanted = sorted(a for a in actors if a and len(a) <= 200)[:MAX_ACTORS]
    if not wanted:
        return {}
    cached = await services.store.get_many(*(ACTOR_KEY + a for a in wanted))
    names = {actor: name for actor, name in zip(wanted, cached, strict=True) if name}
    for actor in (a for a, name in zip(wanted, cached, strict=True) if name is None):
        try:
            person = await services.directory.by_subject(actor)
        except DirectoryError:
            continue
        username = person.username if person is not None else ""
        await services.store.put(ACTOR_KEY + actor, username or "-", ACTOR_CACHE_SECONDS)
        if username:
            names[actor] = username
    return {actor: name for actor, name in names.items() if name not in ("-", actor)}
