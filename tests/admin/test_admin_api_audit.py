"""The audit log through the admin API: login failures and successes and admin actions are
there; the filters work; the CSV export parses; the dashboard stats count sign-ins per app."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta

from tests.admin.support import AdminBackend, unique_username
from tests.device.flow import confirm, device_client, poll, start
from tests.oauth.flow import Browser, form_field, register


async def test_login_and_admin_events_are_found_by_filters(backend: AdminBackend) -> None:
    username, password = await backend.new_person()
    app = await register(backend.live, name="Audit app", skip_consent=True)
    params = {"response_type": "code", "client_id": app.client_id,
              "redirect_uri": "https://rp.example.edu/cb", "scope": "openid", "state": "x"}
    browser = Browser.open(backend.live)
    try:
        start = await browser.http.get("/authorize", params=params)
        page = await browser.http.get(start.headers["location"])
        failed = await browser.http.post(start.headers["location"], data={
            "csrf": form_field(page.text, "csrf"), "username": username, "password": "wrong-pw"})
        assert failed.status_code == 401  # the login form again, with an error
        signed_in = await browser.authorize(params, username=username, password=password)
        assert signed_in.status_code == 302
    finally:
        await browser.close()

    failures = await backend.ok("GET", "/audit", params={"kind": "login", "actor": username,
                                                        "outcome": "invalid_credentials"})
    [failure] = failures["items"]
    assert failure["client_id"] == app.client_id and failure["ip"]
    successes = await backend.ok("GET", "/audit", params={"kind": "login", "actor": username,
                                                         "outcome": "success"})
    assert len(successes["items"]) == 1
    by_app = await backend.ok("GET", "/audit", params={"client_id": app.client_id})
    assert {(e["kind"], e["outcome"]) for e in by_app["items"]} == {
        ("login", "invalid_credentials"), ("login", "success")}
    created = await backend.ok("GET", "/audit", params={"kind": "admin", "actor": "itadmin"})
    assert any(e["detail"].get("action") == "create_person" and e["detail"].get("target") == username
               for e in created["items"])

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await backend.ok("GET", "/audit", params={"actor": username, "from": future}))["items"] == []
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (await backend.ok("GET", "/audit", params={"actor": username, "to": past}))["items"] == []
    backwards = await backend.api("GET", "/audit", params={"from": future, "to": past})
    assert backwards.status_code == 422


async def test_csv_export_parses_and_matches_the_search(backend: AdminBackend) -> None:
    username, _ = await backend.new_person()
    for title in ("a", "=cmd|' /C calc'!A0", "c"):
        await backend.ok("PATCH", f"/people/{username}", json={"title": title})
    response = await backend.api("GET", "/audit.csv", params={"kind": "admin", "actor": "itadmin"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["id", "at", "kind", "outcome", "actor", "client_id", "ip", "detail"]
    mine = [row for row in rows if json.loads(row["detail"]).get("target") == username]
    assert [json.loads(row["detail"])["action"] for row in mine].count("update_person") == 3
    assert all(row["kind"] == "admin" and row["actor"] == "itadmin" for row in rows)
    searched = await backend.ok("GET", "/audit", params={"kind": "admin", "actor": "itadmin",
                                                        "size": 500})
    assert [int(row["id"]) for row in rows][:len(searched["items"])] == [
        e["id"] for e in searched["items"]]
    assert int(rows[0]["id"]) > int(rows[-1]["id"])  # newest first


async def test_sign_in_stats_count_per_app(backend: AdminBackend) -> None:
    app = await register(backend.live, name="Stats app", skip_consent=True)
    for _ in range(2):
        browser = Browser.open(backend.live)
        try:
            code, _ = await browser.code(app, scope="openid")
        finally:
            await browser.close()
        async with backend.live.client() as http:
            tokens = await http.post("/token", data={"grant_type": "authorization_code",
                                                     "code": code,
                                                     "redirect_uri": "https://rp.example.edu/cb"},
                                     auth=app.basic)
        assert tokens.status_code == 200
    # a device signed in (RFC 8628) is a sign-in into the app too
    device = await device_client(backend.live, name="Stats display")
    started = await start(backend.live, device)
    browser = Browser.open(backend.live)
    try:
        await confirm(browser, started["user_code"])
    finally:
        await browser.close()
    assert (await poll(backend.live, device, started["device_code"])).status_code == 200
    stats = await backend.ok("GET", "/stats/sign-ins", params={"hours": 3})
    assert len(stats["hours"]) == 3
    [series] = [s for s in stats["series"] if s["client_id"] == app.client_id]
    assert series["name"] == "Stats app" and series["counts"][-1] == 2 and sum(series["counts"]) == 2
    [shown] = [s for s in stats["series"] if s["client_id"] == device.client_id]
    assert shown["name"] == "Stats display" and sum(shown["counts"]) == 1
    assert stats["total"] >= 3


async def test_import_over_the_api(backend: AdminBackend) -> None:
    stem = unique_username("api")
    rows = ["username,name,groups"] + [f"{stem}{n},API {n},students" for n in range(20)]
    body = ("\n".join(rows) + "\n").encode()
    headers = {"Content-Type": "text/csv"}
    bad = body.replace(b",students\n", b",nobody\n", 1)
    refused = await backend.api("POST", "/imports", content=bad, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"line": 2, "column": "groups",
                                         "message": "no group named 'nobody' in the directory"}]
    checked = await backend.ok("POST", "/imports", params={"dry_run": "true"}, content=body,
                               headers=headers)
    assert checked == {"valid_rows": 20}
    job = await backend.ok("POST", "/imports", 202, content=body, headers=headers)
    for _ in range(100):
        state = await backend.ok("GET", f"/imports/{job['id']}")
        if state["state"] != "running":
            break
        await asyncio.sleep(0.1)
    assert (state["state"], state["created"], state["passwords"]) == ("done", 20, 20)
    result = await backend.api("GET", f"/imports/{job['id']}/result")
    assert result.status_code == 200 and result.text.count("created") == 20
    assert (await backend.api("GET", f"/imports/{job['id']}/result")).status_code == 404
    student = await backend.token("student")
    assert (await backend.api("POST", "/imports", token=student, content=body,
                              headers=headers)).status_code == 403
