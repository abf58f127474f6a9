"""Which campus person an upstream account is: the durable bindings (idp/db/upstream_models.py).

An account is bound to at most one person (unique issuer + external_id); a person may bind
several accounts (a WeCom and a DingTalk one, two universities). Bindings are made by the person
after proving their campus password (`bind`, bound_by "self") or by an admin (`bind`, bound_by
the admin's name); nothing else makes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import utcnow
from idp.db.upstream_models import UpstreamBinding
from idp.upstream.base import UpstreamAccount


@dataclass(frozen=True, slots=True)
class Binding:
    id: int
    provider: str
    issuer: str
    external_id: str
    subject: str
    username: str
    display_name: str | None
    bound_by: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: UpstreamBinding) -> Binding:
        return cls(id=row.id, provider=row.provider, issuer=row.issuer,
                   external_id=row.external_id, subject=row.subject, username=row.username,
                   display_name=row.display_name, bound_by=row.bound_by,
                   created_at=row.created_at, last_used_at=row.last_used_at)


class AlreadyBound(Exception):
    """The upstream account is bound to someone (`subject`)."""

    def __init__(self, subject: str) -> None:
        super().__init__("the upstream account is already bound")
        self.subject = subject


class Bindings:
    def __init__(self, db: async_sessionmaker) -> None:
        self.db = db

    async def find(self, issuer: str, external_id: str) -> Binding | None:
        async with self.db() as session:
            row = await session.scalar(select(UpstreamBinding).where(
                UpstreamBinding.issuer == issuer, UpstreamBinding.external_id == external_id))
            return Binding.of(row) if row else None

    async def used(self, binding_id: int) -> None:
        async with self.db.begin() as session:
            await session.execute(update(UpstreamBinding).where(
                UpstreamBinding.id == binding_id).values(last_used_at=utcnow()))

    async def bind(self, account: UpstreamAccount, *, subject: str, username: str,
                   bound_by: str) -> Binding:
        """Bind the account to the person; binding it again to the same person is a no-op,
        to anyone else AlreadyBound (an account is one person's)."""
        row = UpstreamBinding(provider=account.provider, issuer=account.issuer,
                              external_id=account.external_id, subject=subject,
                              username=username, display_name=account.display_name,
                              bound_by=bound_by[:256])
        try:
            async with self.db.begin() as session:
                session.add(row)
            return Binding.of(row)
        except IntegrityError:
            existing = await self.find(account.issuer, account.external_id)
            if existing is None:  # removed again in between: rare enough to report as a clash
                raise AlreadyBound("") from None
            if existing.subject != subject:
                raise AlreadyBound(existing.subject) from None
            return existing

    async def of_subject(self, subject: str) -> list[Binding]:
        async with self.db() as session:
            rows = await session.scalars(select(UpstreamBinding).where(
                UpstreamBinding.subject == subject).order_by(UpstreamBinding.id))
            return [Binding.of(row) for row in rows]

    async def listing(self, *, provider: str | None = None, query: str = "", offset: int = 0,
                      limit: int = 100) -> list[Binding]:
        """Bindings for the admin pages, newest first; `query` matches a login name or an
        upstream id exactly."""
        statement = select(UpstreamBinding).order_by(UpstreamBinding.id.desc())
        if provider:
            statement = statement.where(UpstreamBinding.provider == provider)
        if query:
            statement = statement.where((UpstreamBinding.username == query)
                                        | (UpstreamBinding.external_id == query))
        async with self.db() as session:
            rows = await session.scalars(statement.offset(offset).limit(limit))
            return [Binding.of(row) for row in rows]

    async def get(self, binding_id: int) -> Binding | None:
        async with self.db() as session:
            row = await session.get(UpstreamBinding, binding_id)
            return Binding.of(row) if row else None

    async def remove(self, binding_id: int, *, subject: str | None = None) -> Binding | None:
        """Remove one binding (only the person's own when `subject` is given); the removed one,
        or None when there was none."""
        async with self.db.begin() as session:
            row = await session.get(UpstreamBinding, binding_id)
            if row is None or (subject is not None and row.subject != subject):
                return None
            removed = Binding.of(row)
            await session.execute(delete(UpstreamBinding).where(UpstreamBinding.id == binding_id))
            return removed
