"""`idp users releases UID [--json]` and `idp releases purge`, run as real subprocesses on the
embedded defaults, over rows the release writer put in the database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from idp.db.engine import close_engine, open_engine
from idp.db.models import AuditEvent
from idp.db.release_models import AttributeRelease
from idp.db.releases import ReleaseLog
from tests.cli.conftest import Runner


async def _record(url: str, subject: str, releases: list[tuple[str, list[str], datetime]]) -> None:
    engine = open_engine(url)
    log = ReleaseLog(engine)
    for client_id, claims, at in releases:
        log.record(subject, client_id, claims, at=at)
    await log.close()
    await close_engine(engine)


async def _scalar(url: str, query):  # type: ignore[no-untyped-def]
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(query)).scalar_one()
    finally:
        await close_engine(engine)


def test_a_persons_releases_and_the_purge(run_idp: Runner, tmp_path: Path) -> None:
    run_idp("demo", "--no-serve", check=True)
    subject = json.loads(run_idp("users", "show", "student", "--json", check=True).stdout)["subject"]
    url = f"sqlite:///{tmp_path}/idp.db"
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(days=40)
    asyncio.run(_record(url, subject, [
        ("hall", ["sub", "email", "name"], now), ("hall", ["sub", "email", "name"], now),
        ("cas-oa", ["user", "mail"], now), ("hall", ["sub"], old)]))

    shown = run_idp("users", "releases", "student", "--json", check=True)
    data = json.loads(shown.stdout)
    assert data["person"] == "student" and data["subject"] == subject
    rows = {(r["client_id"], " ".join(r["claims"]), r["day"], r["count"]) for r in data["releases"]}
    assert rows == {("hall", "email name sub", now.date().isoformat(), 2),
                    ("cas-oa", "mail user", now.date().isoformat(), 1),
                    ("hall", "sub", old.date().isoformat(), 1)}
    assert all(r["last_at"] and r["first_at"] for r in data["releases"])

    only_hall = json.loads(run_idp("users", "releases", "student", "--json", "--app", "hall",
                                   "--from", (now - timedelta(days=1)).date().isoformat(),
                                   check=True).stdout)
    assert [(r["client_id"], r["claims"]) for r in only_hall["releases"]] == [
        ("hall", ["email", "name", "sub"])]
    text = run_idp("users", "releases", "student", check=True).stdout
    assert "cas-oa" in text and "mail user" in text

    unknown = run_idp("users", "releases", "nobody-here")
    assert unknown.returncode == 1 and "no person" in unknown.stderr
    bad_day = run_idp("users", "releases", "student", "--from", "yesterday")
    assert bad_day.returncode == 2 and "YYYY-MM-DD" in bad_day.stderr
    viewed = asyncio.run(_scalar(url, select(func.count()).select_from(AuditEvent).where(
        AuditEvent.kind == "admin", AuditEvent.detail["action"].as_string() == "view_releases")))
    assert viewed == 3  # each look at a person's record is audited

    purged = run_idp("releases", "purge", "--days", "30", check=True)
    assert purged.stdout.startswith("1 release row(s)")
    left = asyncio.run(_scalar(url, select(func.count()).select_from(AttributeRelease)))
    assert left == 2
    forever = run_idp("releases", "purge", env={"IDP_RELEASES_RETENTION_DAYS": "0"}, check=True)
    assert "kept forever" in forever.stdout
