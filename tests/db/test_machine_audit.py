"""Machine tokens audited at the grain IDP_AUDIT_MACHINE_TOKENS says, on SQLite and PostgreSQL:
`summary` one row per client per minute (count, grants, scopes), `each` one row per token;
people's events one row each whatever the setting; /metrics counts every token either way."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.db.audit import Audit
from idp.db.engine import sessionmaker
from idp.db.machine_audit import MachineTally
from idp.db.models import AuditEvent
from idp.monitoring.metrics import TOKENS, MeteredAudit


def _client() -> str:
    return f"machine-{uuid4().hex[:10]}"


async def _rows(engine: AsyncEngine, client_id: str) -> list[AuditEvent]:
    async with sessionmaker(engine)() as db:
        found = await db.scalars(select(AuditEvent).where(AuditEvent.client_id == client_id)
                                 .order_by(AuditEvent.id))
        return list(found)


async def _tokens(audit: Audit, client_id: str, scopes: list[str]) -> None:
    for scope in scopes:
        await audit.record_machine("token", "success", actor=client_id, client_id=client_id,
                                   ip="10.0.0.7", grant="client_credentials", scope=scope)


async def test_summary_writes_one_row_per_client_per_minute(engine: AsyncEngine) -> None:
    audit = Audit(sessionmaker(engine))
    first, second = _client(), _client()
    await _tokens(audit, first, ["api.read"] * 40 + ["api.write api.read"])
    await _tokens(audit, second, ["api.read"] * 3)
    assert await _rows(engine, first) == []  # nothing written while the minute counts
    await audit.settle()
    (row,) = await _rows(engine, first)
    assert (row.kind, row.outcome, row.actor, row.ip) == ("token", "success", first, "10.0.0.7")
    assert row.detail["count"] == 41
    assert row.detail["grant"] == "client_credentials"
    assert row.detail["grants"] == ["client_credentials"]
    assert row.detail["scopes"] == ["api.read", "api.write"]
    assert row.at.second == 0 and row.at.microsecond == 0
    (other,) = await _rows(engine, second)
    assert other.detail["count"] == 3


async def test_each_writes_one_row_per_token(engine: AsyncEngine) -> None:
    audit = Audit(sessionmaker(engine), machine_tokens="each")
    client = _client()
    await _tokens(audit, client, ["api.read"] * 5)
    await audit.settle()
    rows = await _rows(engine, client)
    assert len(rows) == 5
    assert all(r.detail == {"grant": "client_credentials", "scope": "api.read"} for r in rows)


async def test_peoples_events_are_never_summarised(engine: AsyncEngine) -> None:
    audit = Audit(sessionmaker(engine))
    client = _client()
    for _ in range(3):
        await audit.record("token", "success", actor="alice", client_id=client,
                           grant="authorization_code", scope="openid")
    assert len(await _rows(engine, client)) == 3  # each committed before record() returned


async def test_metrics_count_every_summarised_token(engine: AsyncEngine) -> None:
    audit = MeteredAudit(sessionmaker(engine))
    client = _client()
    counter = TOKENS.labels(grant_type="client_credentials", client_id=client)
    await _tokens(audit, client, ["api.read"] * 7)
    assert counter._value.get() == 7
    await audit.settle()
    (row,) = await _rows(engine, client)
    assert row.detail["count"] == 7
    assert counter._value.get() == 7  # writing the summary does not count again


def test_tally_splits_minutes_and_writes_only_those_ended() -> None:
    tally = MachineTally()
    at = datetime(2026, 12, 6, 12, 0, 10, tzinfo=UTC)
    assert tally.add(at, "a", "client_credentials", "x", "10.0.0.1") is True
    assert tally.add(at.replace(second=59), "a", "client_credentials", "y", "10.0.0.2") is False
    assert tally.add(at.replace(minute=1, second=5), "a", "client_credentials", "x", None) is True
    ended = tally.take(datetime(2026, 12, 6, 12, 1, tzinfo=UTC))
    assert [(r["at"].minute, r["detail"]["count"], r["detail"]["scopes"], r["detail"]["ips"])
            for r in ended] == [(0, 2, ["x", "y"], ["10.0.0.1", "10.0.0.2"])]
    assert ended[0]["detail"]["until"] == "2026-12-06T12:01:00+00:00"
    assert len(tally) == 1  # the minute still counting stays
    assert [r["detail"]["count"] for r in tally.take(None)] == [1]
    assert len(tally) == 0
