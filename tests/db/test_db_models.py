"""The models round-trip through databases built by the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from idp.db.models import AuditEvent, Client, Consent, RefreshToken

BEIJING = timezone(timedelta(hours=8))


def _unique(label: str) -> str:
    # the session-scoped database is shared by every test: keys must not collide
    return f"{label}-{uuid4().hex[:10]}"


async def test_client_round_trips_json_lists_and_dicts(session: AsyncSession) -> None:
    client_id = _unique("oa")
    session.add(
        Client(
            client_id=client_id,
            name="办公自动化 OA",
            secret_digest="a" * 64,
            redirect_uris=["https://oa.campus.edu/cb", "https://oa.campus.edu/cb2?x=1"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            scopes=["openid", "profile", "email"],
            token_endpoint_auth_method="client_secret_basic",
            jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "1", "y": "2"}]},
            extra={"contacts": ["it@campus.edu"], "approved": True},
        )
    )
    await session.commit()
    session.expunge_all()

    loaded = await session.get(Client, client_id)
    assert loaded is not None
    assert loaded.name == "办公自动化 OA"
    assert loaded.redirect_uris == ["https://oa.campus.edu/cb", "https://oa.campus.edu/cb2?x=1"]
    assert loaded.grant_types == ["authorization_code", "refresh_token"]
    assert loaded.scopes == ["openid", "profile", "email"]
    assert loaded.jwks == {"keys": [{"kty": "EC", "crv": "P-256", "x": "1", "y": "2"}]}
    assert loaded.extra == {"contacts": ["it@campus.edu"], "approved": True}
    # defaults from the model
    assert loaded.post_logout_redirect_uris == []
    assert loaded.status == "active"
    assert loaded.id_token_signed_response_alg == "RS256"
    assert loaded.skip_consent is False
    assert loaded.backchannel_logout_session_required is True
    assert loaded.is_public is False
    assert loaded.created_at.tzinfo is not None


async def test_client_update_replaces_json_list_and_bumps_updated_at(
    session: AsyncSession,
) -> None:
    client_id = _unique("hall")
    client = Client(client_id=client_id, name="Service hall", token_endpoint_auth_method="none")
    session.add(client)
    await session.commit()
    first_update = client.updated_at
    assert client.is_public is True

    # JSON columns track reassignment, not in-place mutation: callers assign a new list
    client.redirect_uris = [*client.redirect_uris, "https://hall.campus.edu/cb"]
    await session.commit()
    session.expunge_all()

    loaded = await session.get(Client, client_id)
    assert loaded is not None
    assert loaded.redirect_uris == ["https://hall.campus.edu/cb"]
    assert loaded.updated_at >= first_update


async def test_refresh_token_round_trip(session: AsyncSession) -> None:
    family = _unique("fam")
    expires = datetime(2031, 9, 1, 8, 30, 15, 123456, tzinfo=UTC)
    for n in range(3):
        session.add(
            RefreshToken(
                digest=_unique(f"d{n}"),
                family_id=family,
                client_id="oa",
                subject="s-2024001",
                scope="openid profile offline_access",
                sid="sid-1",
                auth_time=1_700_000_000,
                amr=["pwd"],
                nonce=None,
                expires_at=expires,
                rotated_at=expires - timedelta(days=30) if n < 2 else None,
            )
        )
    await session.commit()
    session.expunge_all()

    rows = (
        await session.scalars(select(RefreshToken).where(RefreshToken.family_id == family))
    ).all()
    assert len(rows) == 3
    assert {r.amr == ["pwd"] and r.auth_time == 1_700_000_000 for r in rows} == {True}
    assert all(r.expires_at == expires for r in rows)
    assert sum(r.rotated_at is None for r in rows) == 1
    assert all(r.revoked_at is None for r in rows)


async def test_audit_event_defaults_and_detail(session: AsyncSession) -> None:
    actor = _unique("zhangsan")
    before = datetime.now(UTC)
    session.add(
        AuditEvent(
            kind="login", outcome="bad_password", actor=actor, ip="2001:db8::1",
            detail={"client_id": "oa", "attempt": 3, "ua": "Mozilla/5.0 微信"},
        )
    )
    await session.commit()
    session.expunge_all()

    event = (await session.scalars(select(AuditEvent).where(AuditEvent.actor == actor))).one()
    assert event.id > 0
    assert event.detail == {"client_id": "oa", "attempt": 3, "ua": "Mozilla/5.0 微信"}
    assert event.at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= event.at <= datetime.now(UTC) + timedelta(seconds=1)


async def test_duplicate_consent_raises_and_rolls_back(session: AsyncSession) -> None:
    subject = _unique("sub")
    session.add(Consent(subject=subject, client_id="oa", scopes=["openid", "profile"]))
    await session.commit()

    session.add(Consent(subject=subject, client_id="oa", scopes=["openid", "email"]))
    with pytest.raises(IntegrityError):
        await session.commit()
    await session.rollback()
    session.expunge_all()

    kept = (await session.scalars(select(Consent).where(Consent.subject == subject))).all()
    assert [(c.client_id, c.scopes) for c in kept] == [("oa", ["openid", "profile"])]
    # the session is usable again and the same subject may consent to another client
    session.add(Consent(subject=subject, client_id="hall", scopes=["openid"]))
    await session.commit()
    count = len((await session.scalars(select(Consent).where(Consent.subject == subject))).all())
    assert count == 2


async def test_datetimes_come_back_aware_and_in_utc(session: AsyncSession) -> None:
    actor = _unique("tz")
    in_beijing = datetime(2025, 9, 1, 8, 0, 0, tzinfo=BEIJING)  # 00:00 UTC
    session.add(AuditEvent(kind="t", outcome="ok", actor=actor, at=in_beijing, detail={}))
    await session.commit()
    session.expunge_all()

    event = (await session.scalars(select(AuditEvent).where(AuditEvent.actor == actor))).one()
    assert event.at.tzinfo is not None
    assert event.at.utcoffset() == timedelta(0)
    assert event.at == in_beijing  # the same instant
    assert (event.at.hour, event.at.day) == (0, 1)


async def test_datetime_comparisons_in_sql_respect_offsets(session: AsyncSession) -> None:
    """08:30+08:00 is before 01:00Z: a query must order instants, not wall-clock strings."""
    actor = _unique("order")
    early = datetime(2025, 9, 1, 8, 30, tzinfo=BEIJING)  # 00:30 UTC
    late = datetime(2025, 9, 1, 1, 0, tzinfo=UTC)
    session.add_all([
        AuditEvent(kind="t", outcome="early", actor=actor, at=early, detail={}),
        AuditEvent(kind="t", outcome="late", actor=actor, at=late, detail={}),
    ])
    await session.commit()

    cutoff = datetime(2025, 9, 1, 8, 45, tzinfo=BEIJING)  # 00:45 UTC
    after = await session.scalars(
        select(AuditEvent.outcome).where(AuditEvent.actor == actor, AuditEvent.at > cutoff)
    )
    assert after.all() == ["late"]
    ordered = await session.scalars(
        select(AuditEvent.outcome).where(AuditEvent.actor == actor).order_by(AuditEvent.at)
    )
    assert ordered.all() == ["early", "late"]


async def test_naive_datetime_is_refused_with_a_clear_error(session: AsyncSession) -> None:
    session.add(
        AuditEvent(kind="t", outcome="naive", actor=_unique("naive"), at=datetime(2025, 1, 1),
                   detail={})
    )
    with pytest.raises(StatementError, match="naive datetime"):
        await session.commit()
    await session.rollback()
