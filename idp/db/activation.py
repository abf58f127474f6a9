"""The "to activate" mark: people the bulk intake created without a password, who set their own
at /activate (idp/web/activate.py) after proving who they are.

The mark is a row keyed on the person's subject (entryUUID / objectGUID / the local directory's
UUID), in the IdP's own database, not an attribute in the directory:
- it works the same for the campus LDAP and the local directory, and asks nothing of the LDAP
  schema (no custom attribute class on OpenLDAP, no schema extension on AD, no write access for
  the service account);
- pwdReset / pwdLastSet 0 / must_change cannot stand in for it: they also mean "a generated
  password was handed out", and a person marked there could not be told apart from one who
  holds a printed password;
- the subject survives a rename, so a mark follows the person, never a reused login name.
Activating deletes the row in the same statement that checks it is there (`take`), so of two
concurrent activations of one person only one goes through, and a mark once taken is gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from idp.db.models import Base, UTCDateTime, utcnow


class ActivationMark(Base):
    """One person who may (and must) activate their account at /activate."""

    __tablename__ = "activation_marks"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    username: Mapped[str] = mapped_column(String(256))  # as marked, for listings only
    marked_by: Mapped[str | None] = mapped_column(String(200))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ActivationMarks:
    """Reads and writes the marks (module docstring)."""

    def __init__(self, db: async_sessionmaker) -> None:
        self.db = db

    async def mark(self, subject: str, username: str, *, by: str | None = None) -> bool:
        """Mark the person; False when they were marked already (the mark is kept as it was)."""
        async with self.db() as session:
            session.add(ActivationMark(subject=subject, username=username[:256],
                                       marked_by=(by or None) and by[:200]))
            try:
                await session.commit()
            except IntegrityError:
                return False
        return True

    async def is_marked(self, subject: str) -> bool:
        async with self.db() as session:
            found = await session.scalar(
                select(ActivationMark.subject).where(ActivationMark.subject == subject))
        return found is not None

    async def marked(self, subjects: Iterable[str]) -> set[str]:
        """Which of these subjects are marked (for a page of people in the console)."""
        wanted = list(dict.fromkeys(subjects))
        if not wanted:
            return set()
        async with self.db() as session:
            rows = await session.scalars(
                select(ActivationMark.subject).where(ActivationMark.subject.in_(wanted)))
            return set(rows)

    async def take(self, subject: str) -> bool:
        """Remove the mark; True for the one caller that removed it (atomic: one DELETE)."""
        async with self.db() as session:
            result = await session.execute(
                delete(ActivationMark).where(ActivationMark.subject == subject))
            await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def put_back(self, subject: str, username: str) -> None:
        """The password could not be set after `take`: the person may try again."""
        await self.mark(subject, username, by="activation")

    async def listing(self, limit: int = 1000) -> list[ActivationMark]:
        """The people still to activate, oldest mark first."""
        async with self.db() as session:
            rows = await session.scalars(
                select(ActivationMark).order_by(ActivationMark.marked_at).limit(limit))
            return list(rows)
