"""The protocol an app speaks: OpenID Connect clients and CAS services share the clients table.

Revision ID: 0006_cas
Revises: 0005_last_known
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_cas"
down_revision: str | None = "0005_last_known"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("protocol", sa.String(length=8), nullable=False,
                                   server_default="oidc"))
        batch.create_index("ix_clients_protocol", ["protocol"])


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_index("ix_clients_protocol")
        batch.drop_column("protocol")
