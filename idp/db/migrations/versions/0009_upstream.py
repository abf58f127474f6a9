"""Upstream accounts (OpenID Connect, WeCom, DingTalk, WeChat) bound to campus people.

Revision ID: 0009_upstream
Revises: 0006_cas
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_upstream"
down_revision: str | None = "0008_identities"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "upstream_bindings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.String(length=400), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("bound_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_bindings")),
        sa.UniqueConstraint("issuer", "external_id",
                            name=op.f("uq_upstream_bindings_issuer_external_id")),
    )
    op.create_index("ix_upstream_bindings_subject", "upstream_bindings", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_upstream_bindings_subject", table_name="upstream_bindings")
    op.drop_table("upstream_bindings")
