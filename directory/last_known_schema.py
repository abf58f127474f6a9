"""The table of directory/last_known.py: each person as the directory last confirmed them.

On the directory's own metadata (DirectoryBase), beside the local directory's tables, so the
directory package owns it without importing the IdP; the IdP's migrations create it
(idp/db/migrations/versions/0005_last_known.py) and idp/db/schema.py lists it for the check that
models and migrations agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from directory.local_schema import DirectoryBase


class DirLastKnown(DirectoryBase):
    __tablename__ = "dir_last_known"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    # the login name as the directory spells it, NFKC + case folded: offline logins find it here
    username_key: Mapped[str] = mapped_column(String(256), index=True)
    person: Mapped[dict[str, Any]] = mapped_column(JSON)  # Person.as_dict()
    # when the directory last confirmed the person: the copy's age is counted from here
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # argon2id of the last password the directory accepted (IDP_DIRECTORY_OFFLINE_LOGIN only;
    # never for admins or anyone the directory refused as locked, disabled or expired)
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
