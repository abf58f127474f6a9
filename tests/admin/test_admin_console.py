"""The admin console over real HTTP: behind the SSO login and the admin group, CSRF on every
form, people (in the local directory and in slapd), groups, clients, sessions, zh + en."""

from __future__ import annotations

import html
import re

import pytest

from idp.db.models import Client
from tests.admin.console_support import console_browser, csrf_of, form_inputs, post_form
from tests.admin.support import AdminBackend, unique_username
from tests.oauth.flow import REDIRECT, Browser, query_of, register


async def test_no_session_goes_through_the_real_login_and_back(admin_local: AdminBackend) -> None:
    browser, page = await console_browser(admin_local, start="/admin/people?q=teach")
    try:
        assert page.status_code == 200
        assert "teacher" in page.text and "李老师" in page.text
        assert browser.pages.count("login") == 1  # the ordinary login page, once
        again = await browser.http.get("/admin/groups")
        assert again.status_code == 200 and "idp-admins" in again.text
    finally:
        await browser.close()


async def test_a_student_gets_403_and_no_open_redirect(admin_local: AdminBackend) -> None:
    browser, page = await console_browser(admin_local, "student")
    try:
        assert page.status_code == 403
        assert "idp-admins" in html.unescape(page.text)
    finally:
        await browser.close()
    outsider = Browser.open(admin_local.live)
    try:
        start = await outsider.http.get("/admin/login", params={"next": "https://evil.example/x"})
        state = query_of(start.headers["location"])["state"]
        stored = await admin_local.services.store.get(f"area-login:{state}")
        assert stored == "/admin"
    finally:
        await outsider.close()


async def test_forms_need_the_csrf_token(admin_local: AdminBackend) -> None:
    username, _ = await admin_local.new_person()
    browser, _ = await console_browser(admin_local)
    try:
        path = f"/admin/people/{username}/disable"
        missing = await browser.http.post(path, data={})
        forged = await browser.http.post(path, data={"csrf": "A" * 43})
        assert missing.status_code == 403 and forged.status_code == 403
        assert (await admin_local.person(username)).disabled is False  # type: ignore[union-attr]
        state = (await admin_local.ok("GET", f"/people/{username}"))["state"]
        assert state["disabled"] is False
    finally:
        await browser.close()


async def test_person_lifecycle_in_the_console(backend: AdminBackend) -> None:
    browser, _ = await console_browser(backend)
    username = unique_username("web")
    try:
        created = await post_form(browser, "/admin/people/new", "/admin/people/new", {
            "username": username, "name": "王 小明", "email": f"{username}@example.edu",
            "affiliations": "student;member", "groups": "students"})
        assert created.status_code == 200 and "secret" in created.text
        password = html.unescape(re.search(r'<p class="secret">([^<]+)</p>', created.text).group(1))
        assert await backend.bind(username, password)
        person_page = f"/admin/people/{username}"
        page = await browser.http.get(person_page)
        assert "王 小明" in page.text and "students" in page.text

        disabled = await post_form(browser, person_page, f"{person_page}/disable", {})
        assert disabled.status_code == 303 and "done=done_disabled" in disabled.headers["location"]
        assert (await backend.ok("GET", f"/people/{username}"))["state"]["disabled"] is True
        await post_form(browser, person_page, f"{person_page}/enable", {})
        assert (await backend.ok("GET", f"/people/{username}"))["state"]["disabled"] is False

        reset = await post_form(browser, person_page, f"{person_page}/reset-password",
                                {"mode": "password"})
        new_password = html.unescape(re.search(r'<p class="secret">([^<]+)</p>', reset.text).group(1))
        assert await backend.bind(username, new_password) and not await backend.bind(username, password)

        await post_form(browser, person_page, f"{person_page}/force-password-change", {})
        assert (await backend.ok("GET", f"/people/{username}"))["state"]["must_change"] is True
        await post_form(browser, person_page, f"{person_page}/unlock", {})

        shown = form_inputs((await browser.http.get(person_page)).text, f"{person_page}/edit")
        assert shown["name"] == "王 小明" and shown["affiliations"] == "student;member"
        edited = await post_form(browser, person_page, f"{person_page}/edit", {
            **shown, "department": "数学学院", "affiliations": "student"})
        assert edited.status_code == 303
        person = await backend.person(username)
        assert person is not None and person.department == "数学学院"
        assert person.affiliations == ("student",) and person.name == "王 小明"
        bad = await post_form(browser, person_page, f"{person_page}/edit", {**shown, "email": "nope"})
        assert bad.status_code == 422 and "email" in bad.text

        left = await post_form(browser, person_page, "/admin/groups/students/remove",
                               {"username": username, "back": "person"})
        assert left.status_code == 303
        assert "students" not in (await backend.person(username)).groups  # type: ignore[union-attr]
        joined = await post_form(browser, "/admin/groups", "/admin/groups/join",
                                 {"username": username, "group": "faculty"})
        assert joined.status_code == 303
        assert "faculty" in (await backend.person(username)).groups  # type: ignore[union-attr]
    finally:
        await browser.close()


async def test_sessions_revoked_from_the_console(admin_local: AdminBackend) -> None:
    app = await register(admin_local.live, name="Console RP", skip_consent=True)
    username, password = await admin_local.new_person()
    person_browser = Browser.open(admin_local.live)
    admin_browser, _ = await console_browser(admin_local)
    try:
        await person_browser.authorize({"response_type": "code", "client_id": app.client_id,
                                        "redirect_uri": REDIRECT, "scope": "openid", "state": "s"},
                                       username=username, password=password)
        page = await admin_browser.http.get(f"/admin/people/{username}")
        assert "Console RP" in page.text
        sid = re.search(r'name="sid" value="([^"]+)"', page.text).group(1)
        ended = await admin_browser.http.post(f"/admin/people/{username}/sessions/revoke",
                                              data={"csrf": csrf_of(page.text), "sid": sid})
        assert ended.status_code == 303
        assert await admin_local.services.sessions.get(sid) is None
    finally:
        await person_browser.close()
        await admin_browser.close()


async def test_clients_in_the_console(admin_local: AdminBackend) -> None:
    pending = await register(admin_local.live, name="待审核应用", status="pending",
                             scopes=["openid", "campus"])
    browser, _ = await console_browser(admin_local)
    try:
        listing = await browser.http.get("/admin/clients?status=pending")
        assert "待审核应用" in listing.text
        path = f"/admin/clients/{pending.client_id}"
        assert "campus" in (await browser.http.get(path)).text
        approved = await post_form(browser, path, f"{path}/approve", {})
        assert approved.status_code == 303
        assert (await admin_local.ok("GET", f"/clients/{pending.client_id}"))["status"] == "active"
        rotated = await post_form(browser, path, f"{path}/rotate", {})
        assert rotated.status_code == 200 and '<p class="secret">' in rotated.text
        refused = await post_form(browser, path, f"{path}/delete", {})
        assert refused.status_code == 422
        deleted = await post_form(browser, path, f"{path}/delete", {"confirm": "1"})
        assert deleted.status_code == 303
        async with admin_local.services.db() as db:
            assert await db.get(Client, pending.client_id) is None
    finally:
        await browser.close()


@pytest.mark.parametrize(("locale", "words"), [("en", "People"), ("zh", "人员")])
async def test_both_languages(admin_local: AdminBackend, locale: str, words: str) -> None:
    browser, _ = await console_browser(admin_local)
    try:
        page = await browser.http.get("/admin/people", params={"ui_locales": locale})
        assert f"<h1>{words}</h1>" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert 'href="/admin/static/admin.css"' in page.text
    finally:
        await browser.close()
