"""The second factors people enrol, on the shared declarative `Base` (migration 0003_mfa).

Nothing here can be used to log in if the database leaks: TOTP secrets are encrypted
(secretbox.py), recovery codes are SHA-256 digests of 80-bit random codes, and passkeys are
public keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db.models import Base, UTCDateTime, utcnow


class TotpCredential(Base):
    """One authenticator app per person (enrolling again replaces it). `last_step` is the
    newest RFC 6238 time step accepted, so a code is never accepted twice (§5.2)."""

    __tablename__ = "mfa_totp"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200), unique=True)
    secret: Mapped[str] = mapped_column(Text)  # encrypted, bound to the subject
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PasskeyCredential(Base):
    """A WebAuthn credential (security key or passkey): its id, COSE public key, counter."""

    __tablename__ = "mfa_passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[str] = mapped_column(Text)  # base64url COSE_Key
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(100))
    aaguid: Mapped[str | None] = mapped_column(String(36))
    transports: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RecoveryCode(Base):
    """One single-use recovery code, by digest; `used_at` is set when it is spent."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (Index("ix_mfa_recovery_subject", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
