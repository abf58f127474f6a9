"""The dashboard's figures (idp/admin/service_audit.py) on SQLite + the in-process store and on
PostgreSQL + Redis, the charts built from them (console_chart.py), the vendored chart library
served from campus-idp itself, and the dashboard page under the strict CSP."""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from idp.admin import service_audit
from idp.admin.console_chart import MAX_LINES, chart_series, dashboard_charts
from idp.admin.console_i18n import text
from idp.admin.service_audit import HourlyStats
from idp.admin.service_common import Invalid
from idp.db.models import AuditEvent
from idp.sso.throttle import PREFIX
from tests.admin.console_support import console_browser
from tests.admin.support import AdminBackend

# a window no other test writes into: the figures below are exact
NOW = datetime(2020, 2, 3, 12, 30, tzinfo=UTC)
ECHARTS_SHA256 = "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"


def _event(hours_ago: float, kind: str, outcome: str, actor: str | None = None,
           client_id: str | None = None, **detail: object) -> AuditEvent:
    return AuditEvent(at=NOW - timedelta(hours=hours_ago), kind=kind, outcome=outcome,
                      actor=actor, client_id=client_id, detail=detail)


async def _seed(backend: AdminBackend, events: list[AuditEvent]) -> None:
    async with backend.services.db() as db, db.begin():
        db.add_all(events)


async def test_dashboard_figures(backend: AdminBackend) -> None:
    app = f"stats-{secrets.token_hex(4)}"
    await _seed(backend, [
        # sign-ins: two in the current hour, one two hours ago, one outside a 3-hour range
        _event(0.1, "token", "success", "alice", app, grant="authorization_code"),
        _event(0.2, "token", "success", "bob", app, grant="authorization_code"),
        _event(2.0, "token", "success", "alice", app, grant="authorization_code"),
        _event(5.0, "token", "success", "alice", app, grant="authorization_code"),
        _event(0.3, "token", "success", None, app, grant="client_credentials"),
        _event(0.3, "token", "success", "alice", app, grant="refresh_token"),
        _event(0.3, "token", "invalid_grant", None, app, grant="refresh_token"),  # not issued
        # failures: three wrong passwords (one account twice), a lock, a throttled account twice
        _event(0.1, "login", "invalid_credentials", "carol"),
        _event(0.2, "login", "invalid_credentials", "carol"),
        _event(1.1, "login", "invalid_credentials", "dave"),
        _event(1.2, "login", "account_locked", "erin"),
        _event(1.3, "login", "account_locked", "erin"),
        _event(0.4, "login", "throttled", "carol"),
        _event(0.5, "login", "throttled", "carol"),
        _event(0.5, "login", "throttled", "frank"),
        _event(0.6, "login", "must_change_password", "gina"),  # the right password: no failure
        # sessions: three sign-ins (one offline), one sign-out
        _event(0.1, "login", "success", "alice"),
        _event(1.5, "login", "offline", "bob"),
        _event(2.5, "login", "success", "bob"),
        _event(0.2, "logout", "success", "alice"),
    ])
    board = await service_audit.dashboard(backend.services, 3, now=NOW)

    assert board.hours == [datetime(2020, 2, 3, h, tzinfo=UTC) for h in (10, 11, 12)]
    assert board.sign_ins.series == {app: [1, 0, 2]} and board.sign_ins.total == 3
    assert board.failures == {"invalid_credentials": 3, "throttled": 3, "account_locked": 2}
    assert list(board.failures) == ["invalid_credentials", "throttled", "account_locked"]
    # each account once an hour: carol throttled twice counts once
    assert board.refused == {"throttled": [0, 0, 2], "locked": [0, 1, 0]}
    assert board.tokens == {"authorization_code": [1, 0, 2], "client_credentials": [0, 0, 1],
                            "refresh_token": [0, 0, 1]}
    assert board.sessions == {"started": [1, 1, 1], "ended": [0, 0, 1]}

    week = await service_audit.dashboard(backend.services, 168, now=NOW)
    assert len(week.hours) == 168 and week.sign_ins.total == 4
    with pytest.raises(Invalid):
        await service_audit.dashboard(backend.services, 0, now=NOW)


async def test_live_figures_come_from_the_store(backend: AdminBackend) -> None:
    before = await service_audit.dashboard(backend.services, 1)
    session = await backend.services.sessions.create(subject="s-chart", username="chart")
    blocked = f"{PREFIX}block:acct:{hashlib.sha256(secrets.token_bytes(8)).hexdigest()}"
    await backend.services.store.put(blocked, "1", 60)
    try:
        during = await service_audit.dashboard(backend.services, 1)
        assert during.active_sessions == before.active_sessions + 1
        assert during.throttled_now == before.throttled_now + 1
    finally:
        await backend.services.sessions.end(session.sid)
        await backend.services.store.delete(blocked)
    after = await service_audit.dashboard(backend.services, 1)
    assert after.active_sessions == before.active_sessions


def _stats(series: dict[str, list[int]]) -> HourlyStats:
    start = datetime(2025, 9, 1, tzinfo=UTC)
    return HourlyStats([start + timedelta(hours=n) for n in range(3)], series,
                       {cid: f"App {cid}" for cid in series})


def test_chart_series_sum_up_the_quietest_apps() -> None:
    many = {f"c{n}": [n, 0, 1] for n in range(MAX_LINES + 3)}
    lines = chart_series(_stats(many), "others")
    assert len(lines) == MAX_LINES + 1 and lines[-1][0] == "others"
    assert lines[-1][1] == [0 + 1 + 2, 0, 3]  # the three quietest apps, summed
    assert len({colour for _, _, colour in lines}) == len(lines)


def test_charts_speak_the_console_language() -> None:
    board = service_audit.Dashboard(
        sign_ins=_stats({"a": [1, 4, 2]}), failures={"invalid_credentials": 2, "odd_reason": 1},
        refused={"throttled": [0, 1, 0], "locked": [0, 0, 1]},
        tokens={"urn:ietf:params:oauth:grant-type:device_code": [0, 1, 0]},
        sessions={"started": [1, 0, 0], "ended": [0, 0, 1]}, active_sessions=7, throttled_now=2)
    charts = dashboard_charts(board, 3, "zh", lambda key, **v: text(key, "zh", **v))
    assert [c.id for c in charts] == ["sign-ins", "failures", "refused", "tokens", "sessions"]
    failures = charts[1]
    assert failures.x == ["用户名或密码错误", "odd_reason"]  # an unknown reason as stored
    assert failures.rows() == [["用户名或密码错误", 2], ["odd_reason", 1]]
    assert [s.name for s in charts[3].series] == ["设备码"]
    assert "7" in charts[4].note and "2" in charts[2].note
    assert charts[0].rows()[1] == ["09-01 01:00", 4]
    assert charts[0].columns == ["小时（UTC）", "App a"]
    json.dumps([c.option() for c in charts])  # what the page hands the script


async def test_the_chart_library_is_served_by_campus_idp(admin_local: AdminBackend) -> None:
    async with admin_local.live.client() as http:
        library = await http.get("/admin/static/echarts.min.js")
        assert library.status_code == 200 and library.headers["content-type"].startswith(
            "text/javascript")
        assert hashlib.sha256(library.content).hexdigest() == ECHARTS_SHA256
        licence = await http.get("/admin/static/echarts-LICENSE.txt")
        assert licence.status_code == 200 and "Apache License" in licence.text
        assert "Apache ECharts" in (await http.get("/admin/static/echarts-NOTICE.txt")).text
        script = await http.get("/admin/static/console-charts.js")
        assert script.status_code == 200 and "echarts.init" in script.text
        for wrong in ("../console.py", "echarts/LICENSE", "nope.js"):
            assert (await http.get(f"/admin/static/{wrong}")).status_code == 404


async def test_dashboard_page_hands_the_charts_to_the_script(admin_local: AdminBackend) -> None:
    browser, page = await console_browser(admin_local)
    try:
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert '<script src="/admin/static/echarts.min.js" defer></script>' in page.text
        # no inline script: the only <script> with a body is the JSON one, which never runs
        bodies = re.findall(r"<script([^>]*)>([^<]+)</script>", page.text)
        assert [attrs for attrs, _ in bodies] == [' type="application/json" id="console-charts"']
        charts = json.loads(html.unescape(bodies[0][1]))
        assert [c["id"] for c in charts] == ["sign-ins", "failures", "refused", "tokens", "sessions"]
        for chart in charts:
            assert f'data-chart="{chart["id"]}"' in page.text or chart["id"] == "failures"
        assert page.text.count("<details>") == 5 and page.text.count("<table") == 5
        # the range selector: separate links, the one shown marked
        assert re.search(r'<a href="/admin\?hours=24" aria-current="page">24 小时</a>', page.text)
        week = await browser.http.get("/admin", params={"hours": "168"})
        assert week.status_code == 200
        assert re.search(r'<a href="/admin\?hours=168" aria-current="page">7 天</a>', week.text)
        assert week.text.count("<tr><th scope=\"row\">") >= 168
        odd = await browser.http.get("/admin", params={"hours": "lots"})
        assert odd.status_code == 200  # an unreadable range falls back to 24 hours
    finally:
        await browser.close()


async def test_dashboard_over_the_admin_api(backend: AdminBackend) -> None:
    figures = await backend.ok("GET", "/stats/dashboard", params={"hours": 2})
    assert len(figures["hours"]) == 2
    assert len(figures["throttled"]) == len(figures["sessions_started"]) == 2
    assert figures["active_sessions"] >= 1  # the admin's own session that minted the token
    assert all(len(counts) == 2 for counts in figures["tokens"].values())
    assert (await backend.api("GET", "/stats/dashboard", params={"hours": 0})).status_code == 422
    student = await backend.token("student")
    assert (await backend.api("GET", "/stats/dashboard", token=student)).status_code == 403
