"""The attribute-release record: claim names released per person, app, claim set and day.

Revision ID: 0011_releases
Revises: 0006_cas
Create Date: 2026-12-06

Timestamps are plain DateTime(timezone=True), as in 0001: UTCDateTime is a Python-side decorator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011_releases"
down_revision: str | None = "0010_activation"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "attribute_releases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claims", sa.String(length=1000), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_releases")),
        # the upsert's conflict target: one row per person, app, day and claim set
        sa.UniqueConstraint("subject", "client_id", "day", "claims",
                            name="uq_attribute_releases_key"),
    )
    op.create_index("ix_attribute_releases_client_day", "attribute_releases", ["client_id", "day"])
    op.create_index("ix_attribute_releases_day", "attribute_releases", ["day"])


def downgrade() -> None:
    op.drop_index("ix_attribute_releases_day", table_name="attribute_releases")
    op.drop_index("ix_attribute_releases_client_day", table_name="attribute_releases")
    op.drop_table("attribute_releases")
