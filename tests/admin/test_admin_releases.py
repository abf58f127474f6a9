"""The attribute-release record for admins: /admin/api/releases (filters by person, subject, app
and days; pages; errors as JSON), its CSV export (audited), the console page and its export, the
link from a person's page. Local directory on SQLite and slapd on PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from idp.db.models import AuditEvent
from tests.admin.console_support import console_browser
from tests.admin.support import AdminBackend
from tests.oauth.flow import Browser, exchange, register

YESTERDAY = datetime.now(UTC) - timedelta(days=1)


async def _released(backend: AdminBackend) -> tuple[str, str, str]:
    """A new person signs in to a new app (a real ID token), and yesterday a CAS service
    received their mail; returns (username, subject, app client_id)."""
    username, password = await backend.new_person()
    app = await register(backend.live, name="迎新系统 Welcome (test)", skip_consent=True)
    browser = Browser.open(backend.live)
    try:
        response = await browser.authorize(
            {"response_type": "code", "client_id": app.client_id, "state": "s",
             "redirect_uri": "https://rp.example.edu/cb", "scope": "openid profile email"},
            username=username, password=password)
        code = re.search(r"code=([^&]+)", response.headers["location"])
        assert code is not None
        assert (await exchange(backend.live, app, code.group(1))).status_code == 200
    finally:
        await browser.close()
    person = await backend.person(username)
    assert person is not None
    backend.services.releases.record(person.subject, "cas-library", ["user", "mail"],
                                     at=YESTERDAY)
    await backend.services.releases.flush()
    return username, person.subject, app.client_id


async def test_search_by_person_app_and_days(backend: AdminBackend) -> None:
    username, subject, client_id = await _released(backend)
    found = await backend.ok("GET", "/releases", params={"person": username})
    items = found["items"]
    assert [(i["client_id"], i["day"]) for i in items] == [
        (client_id, datetime.now(UTC).date().isoformat()),
        ("cas-library", YESTERDAY.date().isoformat())]  # newest day first
    assert items[0]["app"] == "迎新系统 Welcome (test)" and items[0]["subject"] == subject
    assert {"sub", "name", "email"} <= set(items[0]["claims"]) and items[0]["count"] == 1
    assert items[1]["claims"] == ["mail", "user"] and items[1]["app"] == "cas-library"

    by_subject = await backend.ok("GET", "/releases", params={"subject": subject})
    assert by_subject["items"] == items
    by_app = await backend.ok("GET", "/releases", params={"client_id": client_id})
    assert [i["subject"] for i in by_app["items"]] == [subject]
    day = YESTERDAY.date().isoformat()
    that_day = await backend.ok("GET", "/releases", params={"person": username, "from": day,
                                                           "to": day})
    assert [i["client_id"] for i in that_day["items"]] == ["cas-library"]
    first = await backend.ok("GET", "/releases", params={"person": username, "size": 1})
    assert len(first["items"]) == 1 and first["has_more"] is True
    second = await backend.ok("GET", "/releases", params={"person": username, "size": 1,
                                                         "page": 2})
    assert second["items"] == items[1:] and second["has_more"] is False


async def test_bad_requests_are_clear_errors(backend: AdminBackend) -> None:
    unknown = await backend.api("GET", "/releases", params={"person": "nobody-at-all"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    backwards = await backend.api("GET", "/releases", params={"from": "2026-12-02",
                                                             "to": "2026-12-01"})
    assert backwards.status_code == 422 and "'from' is after 'to'" in backwards.text
    not_a_day = await backend.api("GET", "/releases", params={"from": "yesterday"})
    assert not_a_day.status_code == 422
    anonymous = await backend.api("GET", "/releases", anonymous=True)
    assert anonymous.status_code == 401


async def test_csv_export_matches_and_is_audited(backend: AdminBackend) -> None:
    username, subject, client_id = await _released(backend)
    response = await backend.api("GET", "/releases.csv", params={"person": username})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["day", "subject", "client_id", "app", "claims", "first_at",
                             "last_at", "count"]
    assert sorted((r["client_id"], r["subject"], r["count"]) for r in rows) == sorted(
        [(client_id, subject, "1"), ("cas-library", subject, "1")])
    assert [r["claims"] for r in rows if r["client_id"] == "cas-library"] == ["mail user"]
    async with backend.services.db() as db:
        exports = list(await db.scalars(select(AuditEvent).where(
            AuditEvent.kind == "admin", AuditEvent.actor == "itadmin")))
    assert any(e.detail.get("action") == "export_releases" and e.detail.get("person") == username
               for e in exports)


async def test_console_page_filters_labels_and_export(backend: AdminBackend) -> None:
    username, subject, client_id = await _released(backend)
    browser, _ = await console_browser(backend, start=f"/admin/people/{username}")
    try:
        person_page = await browser.http.get(f"/admin/people/{username}")
        link = re.search(r'href="(/admin/releases\?person=[^"]+)" id="releases-of-person"',
                         person_page.text)
        assert link is not None
        page = await browser.http.get(link.group(1), headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200
        assert re.findall(r'<tr data-release="([^"]+)"', page.text) == [client_id, "cas-library"]
        assert 'data-claim="email" title="email">邮箱<' in page.text
        assert 'data-claim="mail" title="mail">邮箱<' in page.text
        assert subject in page.text and "迎新系统 Welcome (test)" in page.text
        export = re.search(r'href="(/admin/releases\.csv\?[^"]+)"', page.text)
        assert export is not None
        download = await browser.http.get(export.group(1).replace("&amp;", "&"))
        assert download.status_code == 200
        assert len(list(csv.DictReader(io.StringIO(download.text)))) == 2
        bad = await browser.http.get("/admin/releases", params={"from": "yesterday"})
        assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
        nobody = await browser.http.get("/admin/releases", params={"person": "nobody-at-all"})
        assert nobody.status_code == 404
    finally:
        await browser.close()
