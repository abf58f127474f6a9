"""SQLAlchemy 2.0 models. Secrets and tokens are stored only as SHA-256 digests (fosite's rule)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: stored in UTC, always read back timezone-aware, on SQLite as on PostgreSQL.

    SQLite has no timestamp type; plain DateTime(timezone=True) there drops the offset (12:00+08
    would come back as a naive 12:00, the wrong instant). Naive datetimes are refused rather than
    guessed at: `datetime.now()` on a server set to local time would silently be hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one, e.g. datetime.now(UTC)")
        value = value.astimezone(UTC)
        # SQLite stores text: one fixed offset (UTC, written without it) keeps ordering correct
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# names for constraints and indexes, so later migrations (and SQLite batch mode) can refer to them
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: UTCDateTime}


class Client(Base):
    """An app: an OpenID Connect relying party or a CAS service (`protocol`). `status` is
    active, pending (awaiting admin approval) or disabled. A CAS service keeps its service URL
    patterns, single logout URL, released attributes and proxy callbacks in `extra["cas"]`."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(8), default="oidc", server_default="oidc",
                                          index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    # after a secret rotation the old secret keeps working until previous_secret_expires
    previous_secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=True)
    grant_types: Mapped[list[str]] = mapped_column(default=list)
    response_types: Mapped[list[str]] = mapped_column(default=list)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    jwks: Mapped[dict[str, Any] | None] = mapped_column()
    jwks_uri: Mapped[str | None] = mapped_column(Text)
    skip_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    owner: Mapped[str | None] = mapped_column(String(200))
    registration_token_digest: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


class Consent(Base):
    """What a person answered a client's consent page: the scopes granted, and the optional ones
    unticked (`declined`), so a later request for the same scopes (or fewer) is answered
    without asking again, and a request for more shows the page with these choices."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("subject", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    declined: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RefreshToken(Base):
    """A refresh token, by digest. Rotation keeps the family; reuse of a rotated one revokes it."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_family", "family_id"),
        Index("ix_refresh_subject", "subject"),
        # the purge finds ended tokens by these (idp/db/retention.py), a batch at a time
        Index("ix_refresh_expires", "expires_at"),
        Index("ix_refresh_revoked", "revoked_at"),
    )

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(Text)
    sid: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[int | None] = mapped_column(Integer)
    acr: Mapped[str | None] = mapped_column(String(100))
    amr: Mapped[list[str]] = mapped_column(default=list)
    nonce: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Who did what, when, from where: logins, tokens, admin and developer actions."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_kind_at", "kind", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))  # login, token, logout, admin, developer, ...
    outcome: Mapped[str] = mapped_column(String(40))  # success or a failure kind
    actor: Mapped[str | None] = mapped_column(String(200), index=True)  # username or subject
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LogoutDelivery(Base):
    """One back-channel logout token POSTed (or still to be) to one client."""

    __tablename__ = "logout_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    uri: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(200))
    sid: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, failed
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdentityDefault(Base):
    """Which of a person's linked identities an app gets when nobody asks (idp/sso/identities.py):
    one row per entry signed in with and app, naming the entry chosen. A person's default for an
    app is the newest row of any of their entries, so it follows them whichever entry's password
    they sign in with next time."""

    __tablename__ = "identity_defaults"
    __table_args__ = (UniqueConstraint("subject", "client_id"),
                      Index("ix_identity_defaults_client", "client_id", "subject"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200))  # the entry signed in with
    client_id: Mapped[str] = mapped_column(String(64))
    chosen: Mapped[str] = mapped_column(String(200))  # the entry the app gets
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
