"""Client registration: initial access tokens (RFC 7591 §3) that gate POST /register.

Revision ID: 0002_registration
Revises: 0001
Create Date: 2026-11-28 09:00:00

Timestamps are plain DateTime(timezone=True), as in 0001: UTCDateTime is a Python-side decorator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_registration"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "initial_access_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_initial_access_tokens")),
    )
    op.create_index(
        op.f("ix_initial_access_tokens_expires_at"), "initial_access_tokens", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_table("initial_access_tokens")
