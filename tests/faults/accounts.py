"""0 audit rows lost: every login and every token a run was given has its row in the audit log.

The rows are read straight from PostgreSQL (past any proxy), by the run's two apps, and matched
to the answers: a successful login is a `login success` row of that person; a token, a `token
success` row of its app and grant. More rows than answers is no loss: a request can write its
row and fail after it (a login whose password was right, refused a moment later because the
database was away); fewer is a loss, and the test fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import datetime

import asyncpg

from tests.faults.load import Answer
from tests.oauth.flow import RegisteredClient

Key = tuple[str, ...]
GRANTS = {"token": "authorization_code", "refresh": "refresh_token",
          "machine": "client_credentials"}


def expected_rows(answers: list[Answer], app: RegisteredClient,
                  machine: RegisteredClient) -> Counter[Key]:
    rows: Counter[Key] = Counter()
    for answer in answers:
        if not answer.ok:
            continue
        if answer.step == "login":
            rows["login", "success", answer.who] += 1
        elif answer.step in GRANTS:
            client = machine if answer.step == "machine" else app
            rows["token", "success", client.client_id, GRANTS[answer.step]] += 1
    return rows


async def written_rows(database_url: str, since: datetime, *clients: RegisteredClient
                       ) -> Counter[Key]:
    conn = await asyncpg.connect(database_url.replace("postgresql://", "postgres://", 1))
    try:
        found = await conn.fetch(
            "SELECT kind, outcome, actor, client_id, detail FROM audit_events"
            " WHERE at >= $1 AND client_id = ANY($2::varchar[])",
            since, [c.client_id for c in clients])
    finally:
        await conn.close()
    rows: Counter[Key] = Counter()
    for row in found:
        if row["kind"] == "login":
            rows["login", row["outcome"], row["actor"]] += 1
        elif row["kind"] == "token":
            detail = json.loads(row["detail"])
            # a minute's summary of machine tokens counts them all (IDP_AUDIT_MACHINE_TOKENS)
            rows["token", row["outcome"], row["client_id"], detail.get("grant", "")] += \
                int(detail.get("count", 1))
    return rows


async def audit_shortfall(database_url: str, since: datetime, answers: list[Answer],
                          app: RegisteredClient, machine: RegisteredClient,
                          within: float) -> tuple[Counter[Key], Counter[Key], Counter[Key]]:
    """(expected, written, missing), waiting up to `within` seconds for rows still held for the
    database (idp/db/audit.py writes them by itself once it is back: nothing is flushed here)."""
    expected = expected_rows(answers, app, machine)
    deadline = time.monotonic() + within
    while True:
        written = await written_rows(database_url, since, app, machine)
        missing = expected - written
        if not missing or time.monotonic() > deadline:
            return expected, written, missing
        await asyncio.sleep(0.25)
