"""Consent per scope: the optional scopes a person unticked on the consent page.

Revision ID: 0007_consent_choices
Revises: 0006_cas
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_consent_choices"
down_revision: str | None = "0006_cas"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # consents given before this revision granted everything they were asked: nothing declined
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("declined", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("declined")
