"""The last-known person of each person the directory confirmed (directory/last_known.py).

Revision ID: 0005_last_known
Revises: 0004_username_keys_nfkc
Create Date: 2026-12-02

Timestamps are plain DateTime(timezone=True), as in 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_last_known"
down_revision: str | None = "0004_username_keys_nfkc"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # DirectoryBase has no naming convention: constraint names are left to the database
    op.create_table(
        "dir_last_known",
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("username_key", sa.String(length=256), nullable=False),
        sa.Column("person", sa.JSON(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("password_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_index(op.f("ix_dir_last_known_username_key"), "dir_last_known", ["username_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dir_last_known_username_key"), table_name="dir_last_known")
    op.drop_table("dir_last_known")
