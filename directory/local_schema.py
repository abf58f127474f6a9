"""Tables of the embedded local directory, on their own metadata (DirectoryBase), prefixed dir_.

Kept apart from idp.db.models so the directory stays a separate seam: the IdP's migrations import
`DirectoryBase.metadata` alongside their own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class DirectoryBase(DeclarativeBase):
    type_annotation_map = {list[str]: JSON}


class DirPerson(DirectoryBase):
    __tablename__ = "dir_people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(36), unique=True)
    username: Mapped[str] = mapped_column(String(128))  # as the person spells it
    # NFKC + casefold: `Student`, `ｓtudent` and `student` are one account (LDAP-PITFALLS 13)
    username_key: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(200))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(64), index=True)
    department: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    affiliations: Mapped[list[str]] = mapped_column(default=list)
    principal_name: Mapped[str | None] = mapped_column(String(254))
    entitlements: Mapped[list[str]] = mapped_column(default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_expired: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class DirGroup(DirectoryBase):
    __tablename__ = "dir_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class DirMembership(DirectoryBase):
    __tablename__ = "dir_memberships"

    person_id: Mapped[int] = mapped_column(ForeignKey("dir_people.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("dir_groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DirAttribute(DirectoryBase):
    """Further attributes of a person, by name: what links entries into one person (the
    IDP_IDENTITIES_LINK_ATTRIBUTE and IDP_IDENTITIES_CORRELATE_BY attributes). `value_key` is
    the value NFKC-normalised and case-folded, what lookups compare: a link names another entry
    by its login name, compared as login names are."""

    __tablename__ = "dir_attributes"
    __table_args__ = (Index("ix_dir_attributes_name_value", "name", "value_key"),)

    person_id: Mapped[int] = mapped_column(ForeignKey("dir_people.id", ondelete="CASCADE"),
                                           primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


# The attributes a person can prove who they are with at /activate (IDP_ACTIVATION_FACTS), on the
# local directory: its own field names, and the LDAP names of the same facts (inetOrgPerson and
# AD), so that one setting reads the same whichever directory is in use. Keys are case folded.
LOCAL_FACTS: dict[str, str] = {
    **{name: name for name in ("name", "given_name", "family_name", "email", "phone", "number",
                               "department", "principal_name")},
    "employeenumber": "number", "employeeid": "number", "sn": "family_name",
    "givenname": "given_name", "cn": "name", "displayname": "name", "mail": "email",
    "telephonenumber": "phone", "mobile": "phone", "ou": "department",
    "edupersonprincipalname": "principal_name", "userprincipalname": "principal_name",
}


def local_fact_field(attribute: str) -> str | None:
    """The local directory's field holding this fact attribute, or None when it has none."""
    return LOCAL_FACTS.get(attribute.casefold())
