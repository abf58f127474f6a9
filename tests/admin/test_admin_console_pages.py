"""Console import (errors with line numbers, dry run, background import with progress, the result
downloaded once), the audit page and its CSV export, the dashboard chart, and the page behind a
one-time password reset link."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re

import pytest

from directory.base import MustChangePassword
from tests.admin.console_support import console_browser, csrf_of
from tests.admin.support import AdminBackend, unique_username
from tests.oauth.flow import Browser, register


def upload(rows: list[str]) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("intake.csv", ("\n".join(rows) + "\n").encode("utf-8"), "text/csv")}


async def test_import_in_the_console(admin_local: AdminBackend) -> None:
    stem = unique_username("c")
    good = ["username,name,email,groups"] + [f"{stem}{n},学生{n},{stem}{n}@example.edu,students"
                                             for n in range(30)]
    bad = list(good)
    bad[5] = f"{stem}3,重复,x@example.edu,students"
    bad[9] = f"{stem}8,学生,not-mail,nope"
    browser, _ = await console_browser(admin_local, start="/admin/import")
    try:
        async def send(rows: list[str], **extra: str):  # type: ignore[no-untyped-def]
            page = await browser.http.get("/admin/import")
            return await browser.http.post("/admin/import", files=upload(rows),
                                           data={"csrf": csrf_of(page.text), **extra})

        refused = await send(bad)
        assert refused.status_code == 422
        text = html.unescape(refused.text)
        assert "line 6, column username" in text and "already on line 5" in text
        assert "line 10, column email" in text and "line 10, column groups" in text
        assert await admin_local.person(f"{stem}0") is None

        checked = await send(good, dry_run="1")
        assert checked.status_code == 200 and "30" in checked.text
        assert await admin_local.person(f"{stem}0") is None

        started = await send(good)
        assert started.status_code == 303
        job_path = started.headers["location"]
        for _ in range(100):
            page = await browser.http.get(job_path)
            if "Refresh" not in page.headers:
                break
            assert '<progress' in page.text
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the import did not finish")
        assert "30" in page.text and "result.csv" in page.text
        result = await browser.http.get(f"{job_path}/result.csv")
        assert result.status_code == 200
        rows = list(csv.DictReader(io.StringIO(result.text)))
        assert len(rows) == 30 and {r["status"] for r in rows} == {"created"}
        assert await admin_local.bind(rows[0]["username"], rows[0]["password"])
        # a generated password opens the first login only, which asks for the person's own
        with pytest.raises(MustChangePassword):
            await admin_local.services.directory.authenticate(rows[0]["username"],
                                                              rows[0]["password"])
        assert (await browser.http.get(f"{job_path}/result.csv")).status_code == 404  # once only
    finally:
        await browser.close()


async def test_audit_page_filters_and_csv(admin_local: AdminBackend) -> None:
    username, _ = await admin_local.new_person()
    await admin_local.ok("POST", f"/people/{username}/unlock")
    browser, _ = await console_browser(admin_local)
    try:
        page = await browser.http.get("/admin/audit", params={"kind": "admin", "actor": "itadmin"})
        assert page.status_code == 200 and "unlock_person" in html.unescape(page.text)
        assert ">管理操作</span>" in page.text and ">登录</span>" not in page.text
        export = re.search(r'href="(/admin/audit\.csv\?[^"]+)"', page.text).group(1)
        response = await browser.http.get(html.unescape(export))
        assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows and all(r["kind"] == "admin" and r["actor"] == "itadmin" for r in rows)
        assert any(username in r["detail"] for r in rows)
        bad = await browser.http.get("/admin/audit", params={"from": "yesterday"})
        assert bad.status_code == 422
    finally:
        await browser.close()


async def test_dashboard_draws_sign_ins_per_app(admin_local: AdminBackend) -> None:
    app = await register(admin_local.live, name="图书馆 <Library>", skip_consent=True)
    person = Browser.open(admin_local.live)
    try:
        code, _ = await person.code(app, scope="openid")
    finally:
        await person.close()
    async with admin_local.live.client() as http:
        redeemed = await http.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": "https://rp.example.edu/cb"},
                                   auth=app.basic)
    assert redeemed.status_code == 200
    browser, page = await console_browser(admin_local)
    try:
        assert page.status_code == 200
        assert 'data-chart="sign-ins"' in page.text
        assert "图书馆 &lt;Library&gt;</th>" in page.text  # escaped in its data table
        assert "<Library>" not in page.text  # and in the charts' JSON (\u003c)
        assert "\\u003cLibrary\\u003e" in page.text
        week = await browser.http.get("/admin", params={"hours": "168"})
        assert week.status_code == 200 and "7 天" in week.text
    finally:
        await browser.close()


async def test_one_time_reset_link(admin_local: AdminBackend) -> None:
    username, old = await admin_local.new_person()
    link = (await admin_local.ok("POST", f"/people/{username}/reset-password",
                                 json={"mode": "link"}))["link"]
    assert link.startswith(admin_local.live.settings.issuer + "/account/reset/")
    path = link.removeprefix(admin_local.live.settings.issuer)
    assert await admin_local.bind(username, old)  # nothing changes until the link is used
    person = Browser.open(admin_local.live)
    try:
        page = await person.http.get(path)
        assert page.status_code == 200 and username in page.text
        token = csrf_of(page.text)
        mismatch = await person.http.post(path, data={"csrf": token, "new": "Chosen-pass-1",
                                                      "confirm": "Chosen-pass-2"})
        assert mismatch.status_code == 400
        done = await person.http.post(path, data={"csrf": token, "new": "Chosen-pass-1",
                                                  "confirm": "Chosen-pass-1"})
        assert done.status_code == 200
        assert await admin_local.bind(username, "Chosen-pass-1")
        assert not await admin_local.bind(username, old)
        again = await person.http.get(path)
        assert again.status_code == 400
    finally:
        await person.close()
    events = await admin_local.ok("GET", "/audit", params={"actor": username, "kind": "admin"})
    assert [e["detail"]["action"] for e in events["items"]] == ["redeem_reset_link"]
