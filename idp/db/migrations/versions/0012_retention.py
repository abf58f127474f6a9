"""Indexes the purge needs on refresh_tokens (every database), and on PostgreSQL the audit log
partitioned by month (idp/db/partitions.py), so the purge drops a month past its retention
instead of deleting it row by row. SQLite keeps one audit table.

The table is converted in the migration's one transaction: the old table is renamed, the
partitioned one created with the same columns, indexes and id sequence, every row copied, and
the old table dropped; a failure leaves the old table as it was. The copy holds the table for
as long as it takes (about a minute per few million rows): upgrade in a quiet hour, or purge
first (`idp maintenance purge`) so fewer rows are copied. PostgreSQL wants the partition key in
the primary key, so it becomes (id, at); ids stay unique, drawn from the same sequence.

Revision ID: 0012_retention
Revises: 0010_activation
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from idp.db.partitions import DEFAULT, create_month, months_from

revision: str = "0012_retention"
down_revision: str | None = "0011_releases"
branch_labels: str | None = None
depends_on: str | None = None

INDEXES = {"ix_audit_at": "(at)", "ix_audit_kind_at": "(kind, at)",
           "ix_audit_events_actor": "(actor)", "ix_audit_events_client_id": "(client_id)"}
COLUMNS = "id, at, kind, outcome, actor, client_id, ip, detail"


def _create(partitioned: bool) -> str:
    return (
        "CREATE TABLE audit_events ("
        " id integer NOT NULL DEFAULT nextval('audit_events_id_seq'::regclass),"
        " at timestamp with time zone NOT NULL,"
        " kind varchar(40) NOT NULL, outcome varchar(40) NOT NULL, actor varchar(200),"
        " client_id varchar(64), ip varchar(64), detail json NOT NULL,"
        f" CONSTRAINT pk_audit_events PRIMARY KEY ({'id, at' if partitioned else 'id'}))"
        + (" PARTITION BY RANGE (at)" if partitioned else ""))


def _set_aside() -> None:
    """Rename the current table and its indexes out of the way; keep its id sequence."""
    op.execute("ALTER TABLE audit_events RENAME TO audit_events_before")
    op.execute("ALTER TABLE audit_events_before RENAME CONSTRAINT pk_audit_events "
               "TO pk_audit_events_before")
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_before")
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY NONE")


def _finish() -> None:
    """Indexes, the sequence, every row, then the old table gone."""
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON audit_events {columns}")
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
    op.execute(f"INSERT INTO audit_events ({COLUMNS}) "  # noqa: S608 - constant names
               f"SELECT {COLUMNS} FROM audit_events_before")
    op.execute("DROP TABLE audit_events_before")


def upgrade() -> None:
    # the purge finds ended refresh tokens by these, on every database
    op.create_index("ix_refresh_expires", "refresh_tokens", ["expires_at"])
    op.create_index("ix_refresh_revoked", "refresh_tokens", ["revoked_at"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _set_aside()
    op.execute(_create(partitioned=True))
    op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF audit_events DEFAULT")
    now = datetime.now(UTC)
    oldest = bind.scalar(text("SELECT min(at) FROM audit_events_before")) or now
    for month in months_from(min(oldest, now), now):
        op.execute(create_month(month))
    _finish()


def downgrade() -> None:
    op.drop_index("ix_refresh_revoked", table_name="refresh_tokens")
    op.drop_index("ix_refresh_expires", table_name="refresh_tokens")
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside()
    op.execute(_create(partitioned=False))
    _finish()  # dropping the partitioned table drops its partitions
