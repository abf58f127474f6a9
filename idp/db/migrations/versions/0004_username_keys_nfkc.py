"""The local directory's login-name keys become NFKC + case folded (they were NFC + case folded).

Revision ID: 0004_username_keys_nfkc
Revises: 0003_mfa
Create Date: 2026-12-02

Typed login names are NFKC-normalised before anything else now (directory.base), so a stored
key must be in the same form or its person could no longer sign in. Only names with
compatibility characters (fullwidth letters and the like) change. Should two people's names
become the same key (`ｚhuxin` and `zhuxin`), both keep their old keys and the migration says
so: an admin must rename one of them. The rule is written out here, not imported, so that this
revision stays what it is whatever the code does later.
"""

from __future__ import annotations

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op

revision: str = "0004_username_keys_nfkc"
down_revision: str | None = "0003_mfa"
branch_labels: str | None = None
depends_on: str | None = None

log = logging.getLogger("alembic.runtime.migration")


def _key(username: str) -> str:
    name = unicodedata.normalize("NFKC", username).strip()
    return unicodedata.normalize("NFKC", name.casefold())


def upgrade() -> None:
    people = sa.table("dir_people", sa.column("id", sa.Integer), sa.column("username", sa.String),
                      sa.column("username_key", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(people.c.id, people.c.username, people.c.username_key))
    current = {row.id: (row.username, row.username_key) for row in rows}
    taken = {key for _, key in current.values()}
    for person_id, (username, old) in current.items():
        new = _key(username)
        if new == old:
            continue
        if new in taken:
            log.warning("dir_people: %r keeps its key %r: %r is another person's", username,
                        old, new)
            continue
        connection.execute(sa.update(people).where(people.c.id == person_id)
                           .values(username_key=new))
        taken.discard(old)
        taken.add(new)


def downgrade() -> None:
    # the NFC keys cannot be told apart from the NFKC ones afterwards; both find every ASCII name
    pass
