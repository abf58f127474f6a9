"""The audit page shows how long each kind of record is kept and what the last purge removed:
on the embedded defaults (SQLite, in-process store) and as in production (PostgreSQL, Redis)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import insert, select

from idp.db.models import AuditEvent
from idp.db.purge import run_purge
from tests.admin.console_support import console_browser
from tests.admin.support import AdminBackend

# far older than anything another test writes: the purge below removes only this row
ANCIENT = 36_600


async def test_audit_page_shows_retention_and_the_last_purge(backend: AdminBackend) -> None:
    services = backend.services
    actor = f"machine-{uuid4().hex[:10]}"
    async with services.engine.begin() as conn:
        await conn.execute(insert(AuditEvent), [{
            "at": datetime.now(UTC) - timedelta(days=ANCIENT), "kind": "token",
            "outcome": "success", "actor": actor, "client_id": actor, "ip": None,
            "detail": {"grant": "client_credentials", "count": 4}}])
    report = await run_purge(services.engine, services.settings.retention, store=services.store,
                             older_than=ANCIENT - 100)
    assert report.removed["machine_audit"] == 1 and sum(report.removed.values()) == 1
    async with services.db() as db:
        assert await db.scalar(select(AuditEvent.id).where(AuditEvent.actor == actor)) is None

    browser, _ = await console_browser(backend)
    try:
        page = await browser.http.get("/admin/audit", headers={"Accept-Language": "en"},
                                      params={"lang": "en"})
    finally:
        await browser.close()
    assert page.status_code == 200
    text = html.unescape(page.text)
    kept = dict(re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>", text))
    people = next(v for k, v in kept.items() if "人员" in k or "people" in k)
    machines = next(v for k, v in kept.items() if "client_credentials" in k)
    assert "365" in people and "30" in machines
    last = re.search(r'<p id="last-purge"[^>]*>([^<]+)</p>', text).group(1)
    assert re.search(r"删除 1 行|1 rows removed", last), last
    assert report.started_at[:16].replace("T", " ") in last
