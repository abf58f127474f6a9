"""The "to activate" mark of people who set their first password at /activate.

Revision ID: 0010_activation
Revises: 0006_cas
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010_activation"
down_revision: str | None = "0009_upstream"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "activation_marks",
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("marked_by", sa.String(length=200), nullable=True),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_activation_marks")),
    )


def downgrade() -> None:
    op.drop_table("activation_marks")
