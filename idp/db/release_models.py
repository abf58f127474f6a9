"""The attribute-release record: which claims (their names, never their values) went to which app
for which person, compacted to one row per person, app, claim set and day (idp/db/releases.py
writes it)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db.models import Base, UTCDateTime

# the longest claim set kept: every OIDC claim and CAS attribute name we release fits in a third
CLAIMS_LENGTH = 1000


class AttributeRelease(Base):
    """Claims released to one app for one person on one day (UTC): the first and the last time,
    and how many answers carried exactly this set. `claims` is the sorted names joined by
    spaces, so one set is always the same string (the row's key)."""

    __tablename__ = "attribute_releases"
    __table_args__ = (
        UniqueConstraint("subject", "client_id", "day", "claims",
                         name="uq_attribute_releases_key"),
        Index("ix_attribute_releases_client_day", "client_id", "day"),
        Index("ix_attribute_releases_day", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    claims: Mapped[str] = mapped_column(String(CLAIMS_LENGTH))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer)
