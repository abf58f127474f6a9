"""Second factors: authenticator apps (TOTP), passkeys (WebAuthn) and recovery codes.

Revision ID: 0003_mfa
Revises: 0002_registration
Create Date: 2026-11-27

Timestamps are plain DateTime(timezone=True), as in 0001: UTCDateTime is a Python-side decorator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_mfa"
down_revision: str | None = "0002_registration"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mfa_totp",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_totp")),
        sa.UniqueConstraint("subject", name=op.f("uq_mfa_totp_subject")),
    )
    op.create_table(
        "mfa_passkeys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=True),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_mfa_passkeys_credential_id")),
    )
    op.create_index(op.f("ix_mfa_passkeys_subject"), "mfa_passkeys", ["subject"])
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_recovery_codes")),
        sa.UniqueConstraint("digest", name=op.f("uq_mfa_recovery_codes_digest")),
    )
    op.create_index("ix_mfa_recovery_subject", "mfa_recovery_codes", ["subject"])


def downgrade() -> None:
    op.drop_table("mfa_recovery_codes")
    op.drop_table("mfa_passkeys")
    op.drop_table("mfa_totp")
