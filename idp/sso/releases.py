"""Reading the attribute-release record (idp/db/releases.py writes it): protocol-neutral, as the
record is one for OIDC and CAS. /account shows a person what each app received; the admin
console, the admin API and `idp users releases` search and export it.

Claim names are the protocol's own: OIDC claims (`email`, `phone_number`, …) and CAS attributes
(`mail`, `telephoneNumber`, …, and `user`, the username every CAS success carries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import Client
from idp.db.release_models import AttributeRelease

MAX_PAGE_SIZE = 500
_NEVER = datetime.min.replace(tzinfo=UTC)
EXPORT_BATCH = 1000


@dataclass
class ReleaseFilter:
    """Rows of one person (subject), one app, and days from `since` to `until` (inclusive)."""

    subject: str | None = None
    client_id: str | None = None
    since: date | None = None
    until: date | None = None

    def apply(self, statement: Select[Any]) -> Select[Any]:
        if self.subject:
            statement = statement.where(AttributeRelease.subject == self.subject)
        if self.client_id:
            statement = statement.where(AttributeRelease.client_id == self.client_id)
        if self.since:
            statement = statement.where(AttributeRelease.day >= self.since)
        if self.until:
            statement = statement.where(AttributeRelease.day <= self.until)
        return statement


@dataclass
class Release:
    """One row: these claims went to this app for this person on this day, `count` times."""

    id: int
    subject: str
    client_id: str
    app_name: str
    day: date
    claims: list[str]
    first_at: datetime
    last_at: datetime
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "client_id": self.client_id, "app": self.app_name,
                "day": self.day.isoformat(), "claims": self.claims,
                "first_at": self.first_at.isoformat(), "last_at": self.last_at.isoformat(),
                "count": self.count}


def _ordered() -> Select[Any]:
    return (select(AttributeRelease, Client.name)
            .outerjoin(Client, Client.client_id == AttributeRelease.client_id))


def _release(row: AttributeRelease, name: str | None) -> Release:
    return Release(id=row.id, subject=row.subject, client_id=row.client_id,
                   app_name=name or row.client_id, day=row.day, claims=row.claims.split(),
                   first_at=row.first_at, last_at=row.last_at, count=row.count)


async def search(db: async_sessionmaker, where: ReleaseFilter, *, offset: int = 0,
                 limit: int = 50) -> list[Release]:
    """Newest day first, then the latest release first."""
    statement = (where.apply(_ordered())
                 .order_by(AttributeRelease.day.desc(), AttributeRelease.last_at.desc(),
                           AttributeRelease.id.desc())
                 .offset(offset).limit(limit))
    async with db() as session:
        return [_release(row, name) for row, name in await session.execute(statement)]


async def export_batch(db: async_sessionmaker, where: ReleaseFilter,
                       below: int | None) -> list[Release]:
    """Up to EXPORT_BATCH rows with ids below `below`, highest first (keyset paging: every batch
    is an index range scan, however deep the export goes)."""
    statement = where.apply(_ordered()).order_by(AttributeRelease.id.desc()).limit(EXPORT_BATCH)
    if below is not None:
        statement = statement.where(AttributeRelease.id < below)
    async with db() as session:
        return [_release(row, name) for row, name in await session.execute(statement)]


@dataclass
class AppReleases:
    """What one app received of one person, over the whole record: each claim once."""

    client_id: str
    app_name: str
    claims: list[str] = field(default_factory=list)
    last_at: datetime | None = None
    count: int = 0


async def apps_of(db: async_sessionmaker, subject: str) -> list[AppReleases]:
    """Per app, the claims it received of this person and when it last did, the latest first.
    One grouped query: a person's rows are a few apps times a few claim sets times the days
    kept."""
    statement = (
        select(AttributeRelease.client_id, AttributeRelease.claims,
               func.max(AttributeRelease.last_at), func.sum(AttributeRelease.count))
        .where(AttributeRelease.subject == subject)
        .group_by(AttributeRelease.client_id, AttributeRelease.claims))
    apps: dict[str, AppReleases] = {}
    async with db() as session:
        for client_id, claims, last_at, count in await session.execute(statement):
            app = apps.setdefault(client_id, AppReleases(client_id, client_id))
            app.claims.extend(name for name in claims.split() if name not in app.claims)
            last = last_at  # max() keeps the column's type: an aware UTC datetime
            app.last_at = last if app.last_at is None or last > app.last_at else app.last_at
            app.count += int(count or 0)
        if apps:
            names = await session.execute(
                select(Client.client_id, Client.name).where(Client.client_id.in_(sorted(apps))))
            for client_id, name in names:
                apps[client_id].app_name = name or client_id
    return sorted(apps.values(), key=lambda app: app.last_at or _NEVER, reverse=True)
