"""The attribute-release record for admins: search it by person (username or subject), app and
days, page through it, export it as CSV (streamed in batches; no cell a spreadsheet would
evaluate, csv_cells.py). The console, the admin API and `idp users releases` share this."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from idp.admin.service_common import Invalid
from idp.admin.service_people import find_person
from idp.http.csv_cells import csv_line
from idp.sso import releases
from idp.sso.releases import Release, ReleaseFilter

if TYPE_CHECKING:
    from idp.services import Services

MAX_PAGE_SIZE = releases.MAX_PAGE_SIZE
CSV_COLUMNS = ("day", "subject", "client_id", "app", "claims", "first_at", "last_at", "count")


@dataclass
class ReleaseQuery:
    """What an admin asks for: a person by username (`person`) or by subject (one who left the
    directory), an app (client_id), and days from `since` to `until` (UTC, inclusive)."""

    person: str | None = None
    subject: str | None = None
    client_id: str | None = None
    since: date | None = None
    until: date | None = None

    async def resolved(self, services: Services) -> ReleaseFilter:
        for name in ("person", "subject", "client_id"):
            value = getattr(self, name)
            if value is not None and (len(value) > 200 or not value.isprintable()):
                raise Invalid(f"{name}: at most 200 printable characters")
            setattr(self, name, (value.strip() or None) if isinstance(value, str) else None)
        if self.since and self.until and self.since > self.until:
            raise Invalid("'from' is after 'to'")
        subject = self.subject
        if self.person:
            found = (await find_person(services, self.person)).subject  # NotFound: a 404
            if subject and subject != found:
                raise Invalid(f"person {self.person!r} is not subject {subject!r}")
            subject = found
        return ReleaseFilter(subject=subject, client_id=self.client_id, since=self.since,
                             until=self.until)


@dataclass
class ReleasePage:
    items: list[Release]
    page: int
    size: int
    has_more: bool


async def search(services: Services, query: ReleaseQuery, page: int = 1,
                 size: int = 50) -> ReleasePage:
    """Newest day first."""
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE or page > 100_000:
        raise Invalid(f"page starts at 1; size is 1 to {MAX_PAGE_SIZE}")
    where = await query.resolved(services)
    rows = await releases.search(services.db, where, offset=(page - 1) * size, limit=size + 1)
    return ReleasePage(rows[:size], page, size, len(rows) > size)


async def every_release(services: Services, where: ReleaseFilter) -> AsyncIterator[Release]:
    """Every matching row, newest first, in batches (the command line's whole history of one
    person)."""
    rows = await releases.export_batch(services.db, where, None)
    while rows:
        for release in rows:
            yield release
        rows = await releases.export_batch(services.db, where, rows[-1].id)


def release_row(release: Release) -> list[str]:
    return [release.day.isoformat(), release.subject, release.client_id, release.app_name,
            " ".join(release.claims), release.first_at.isoformat(), release.last_at.isoformat(),
            str(release.count)]


async def export_csv(services: Services, query: ReleaseQuery) -> AsyncIterator[str]:
    """The matching rows as CSV lines (header first). The first batch is read before this
    returns, so a database out of reach is an error answer (503), not a 200 that breaks off."""
    where = await query.resolved(services)
    first = await releases.export_batch(services.db, where, None)

    async def lines() -> AsyncIterator[str]:
        yield csv_line(list(CSV_COLUMNS))
        rows = first
        while rows:
            yield "".join(csv_line(release_row(release)) for release in rows)
            rows = await releases.export_batch(services.db, where, rows[-1].id)

    return lines()
