"""The console speaks its own language: the audit log in words (zh/en), details as labelled
fields, actors by username (subjects resolved in one batch, remembered in the Store, on the
local directory + SQLite and on slapd + PostgreSQL + Redis), and the apps list naming who
registered each app."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import update

from idp.admin import service_audit
from idp.db.models import Client
from tests.admin.console_support import console_browser
from tests.admin.support import AdminBackend
from tests.oauth.flow import Browser, register


async def test_subjects_resolve_to_usernames_in_one_batch(backend: AdminBackend) -> None:
    services = backend.services
    student = await services.directory.find("student")
    teacher = await services.directory.find("teacher")
    assert student is not None and teacher is not None
    stranger = "no-such-subject-" + secrets.token_hex(4)
    await services.store.delete(*(service_audit.ACTOR_KEY + s
                                  for s in (student.subject, teacher.subject, stranger)))
    names = await service_audit.actor_names(
        services, {student.subject, teacher.subject, "itadmin", stranger, ""})
    assert names == {student.subject: "student", teacher.subject: "teacher"}
    # remembered in the Store (every replica's next page reads it from there), misses too
    assert await services.store.get(service_audit.ACTOR_KEY + student.subject) == "student"
    assert await services.store.get(service_audit.ACTOR_KEY + stranger) == "-"
    again = await service_audit.actor_names(services, {student.subject, stranger})
    assert again == {student.subject: "student"}


async def _signed_in_token(backend: AdminBackend) -> str:
    """A person signs into a fresh app (its token event names them by subject)."""
    app = await register(backend.live, name="词汇 App " + secrets.token_hex(2), skip_consent=True)
    person = Browser.open(backend.live)
    try:
        code, _ = await person.code(app, scope="openid")
    finally:
        await person.close()
    async with backend.live.client() as http:
        redeemed = await http.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": "https://rp.example.edu/cb"},
                                   auth=app.basic)
    assert redeemed.status_code == 200
    return app.client_id


async def test_audit_page_in_words_with_usernames(admin_local: AdminBackend) -> None:
    client_id = await _signed_in_token(admin_local)
    student = await admin_local.services.directory.find("student")
    assert student is not None
    browser, _ = await console_browser(admin_local)
    try:
        page = await browser.http.get("/admin/audit", params={"kind": "token",
                                                               "client_id": client_id})
        assert page.status_code == 200
        [row] = re.findall(r"<tr><td>\d{4}-.*?</tr>", page.text, re.S)
        assert ">令牌</span>" in row and ">成功</span>" in row
        # the actor by username, the stored subject kept in its title
        assert f'<span title="{student.subject}">student</span>' in row
        assert "<dt>授权方式</dt><dd>授权码</dd>" in row
        assert '{"' not in row and "&#34;" not in row  # no raw JSON
        english = await browser.http.get("/admin/audit", params={
            "kind": "token", "client_id": client_id, "ui_locales": "en"})
        assert ">Token</span>" in english.text and "<dt>Grant</dt><dd>Authorization code</dd>" in english.text
        # filters still take the stored words
        logins = await browser.http.get("/admin/audit", params={"kind": "login", "actor": "itadmin"})
        assert ">Sign-in</span>" in logins.text and ">Token</span>" not in logins.text
    finally:
        await browser.close()


async def test_apps_list_names_who_registered(admin_local: AdminBackend) -> None:
    developer = await admin_local.services.directory.find("developer")
    assert developer is not None
    from_cli = await register(admin_local.live, name="CLI app " + secrets.token_hex(2))
    from_portal = await register(admin_local.live, name="Portal app " + secrets.token_hex(2),
                                 owner=developer.subject)
    older = await register(admin_local.live, name="Older app " + secrets.token_hex(2),
                           owner=developer.subject)
    async with admin_local.services.db() as db, db.begin():
        await db.execute(update(Client).where(Client.client_id == from_portal.client_id)
                         .values(extra={"owner_username": "developer"}))
    browser, page = await console_browser(admin_local, start="/admin/clients")
    try:
        assert page.status_code == 200
        assert '<a href="/admin/clients" aria-current="page">全部</a>' in page.text
        assert ">*</a>" not in page.text

        def owner_cell(client_id: str) -> str:
            row = re.search(rf"<tr>(?:(?!</tr>).)*<code>{re.escape(client_id)}</code>", page.text, re.S)
            assert row, client_id
            return re.findall(r"<td>([^<]*)</td>", row.group(0))[-1]

        assert owner_cell(from_portal.client_id) == "developer"
        assert owner_cell(older.client_id) == "developer"  # the subject, resolved
        assert owner_cell(from_cli.client_id) == "命令行"
    finally:
        await browser.close()


async def test_audit_filters_offer_the_console_words(admin_local: AdminBackend) -> None:
    browser, page = await console_browser(admin_local, start="/admin/audit")
    try:
        assert '<option value="login">登录</option>' in page.text
        assert '<option value="invalid_credentials">用户名或密码错误</option>' in page.text
        chosen = await browser.http.get("/admin/audit", params={"kind": "token"})
        assert '<option value="token" selected>令牌</option>' in chosen.text
        # a word the console does not know (typed into the address) is kept, and filters
        odd = await browser.http.get("/admin/audit", params={"outcome": "made_up"})
        assert odd.status_code == 200
        assert '<option value="made_up" selected>made_up</option>' in odd.text
        assert "<tr><td>20" not in odd.text  # no such events
    finally:
        await browser.close()
