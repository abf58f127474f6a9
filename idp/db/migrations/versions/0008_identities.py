"""Several identities, one person: the local directory's further attributes (what links entries)
and each person's remembered identity per app.

Revision ID: 0008_identities
Revises: 0006_cas
Create Date: 2026-12-06

Timestamps are plain DateTime(timezone=True), as in 0001: UTCDateTime is a Python-side decorator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_identities"
down_revision: str | None = "0007_consent_choices"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "identity_defaults",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("chosen", sa.String(length=200), nullable=False),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_defaults")),
        sa.UniqueConstraint("subject", "client_id", name=op.f("uq_identity_defaults_subject_client_id")),
    )
    op.create_index("ix_identity_defaults_client", "identity_defaults", ["client_id", "subject"])
    # DirectoryBase has no naming convention: constraint names are left to the database
    op.create_table(
        "dir_attributes",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value_key", sa.String(length=256), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["dir_people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", "name", "value_key"),
    )
    op.create_index("ix_dir_attributes_name_value", "dir_attributes", ["name", "value_key"])


def downgrade() -> None:
    op.drop_table("dir_attributes")
    op.drop_table("identity_defaults")
