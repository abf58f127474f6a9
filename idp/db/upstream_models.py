"""Upstream accounts bound to campus entries (migration 0009_upstream).

A binding says "the account `external_id` of the upstream provider `issuer` is the campus person
`subject`". It is made only by that person proving their campus password once (or by an admin,
in bulk), never by the upstream sign-in alone: an unbound upstream account signs no one in.
`issuer` is the OpenID provider's issuer URL, or for the Chinese platforms a name that says
whose account space the id belongs to (wecom:<CorpID>, dingtalk:<ClientID>, wechat:<AppID>, or
wechat-union:<AppID> for a UnionID shared by the apps of one WeChat Open Platform account).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db.models import Base, UTCDateTime, utcnow


class UpstreamBinding(Base):
    __tablename__ = "upstream_bindings"
    __table_args__ = (
        UniqueConstraint("issuer", "external_id"),
        Index("ix_upstream_bindings_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))  # the configured name (IDP_UPSTREAM_PROVIDERS)
    issuer: Mapped[str] = mapped_column(String(400))
    external_id: Mapped[str] = mapped_column(String(200))  # sub, userid, openid or unionid
    subject: Mapped[str] = mapped_column(String(200))  # the campus person
    username: Mapped[str] = mapped_column(String(256))  # their login name when bound (for lists)
    display_name: Mapped[str | None] = mapped_column(String(200))  # the upstream's name for them
    bound_by: Mapped[str] = mapped_column(String(256))  # "self", or the admin who bound it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
