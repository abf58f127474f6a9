"""Models of the admin and developer surfaces, on the same `Base` as idp.db.models.

Two engineers add classes here: registration owns `Registration*` / `InitialAccessToken`; the admin
engineer owns the rest. The tables are created by the migrations 0002_registration and 0003_admin.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db.models import Base, UTCDateTime, utcnow


class InitialAccessToken(Base):
    """A bearer token an admin issues so that a developer may call POST /register (RFC 7591 §3).

    Only the SHA-256 digest is kept: the token itself is shown once, by `idp clients token`.
    It may register several clients until it expires or is revoked (RFC 7591 leaves that policy
    to the server).
    """

    __tablename__ = "initial_access_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    uses: Mapped[int] = mapped_column(Integer, default=0)
