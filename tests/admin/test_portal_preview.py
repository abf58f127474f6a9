"""The portal's claims preview shows real people's data, so (issue 15 item 4, issue 24 item 5):
only the scopes the app is approved for, only for the developer themself or a test person an
admin designated (a member of IDP_ACCESS_PREVIEW_GROUP), and every preview audited. Embedded and
production (slapd, Redis, PostgreSQL), over real HTTP with the real sign-in."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from directory.local import LocalDirectory
from idp.db.models import AuditEvent
from tests.admin.conftest_registration import csrf_of, live_fixture, portal_login, set_status  # noqa: F401
from tests.admin.test_portal import code_of, register_app
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp
from tests.support.slapd import SUFFIX

# what the developer asked for: phone is a basic scope (approved by policy), the rest
# waits for an admin
ASKED = ["openid", "profile", "phone", "campus", "groups", "eduperson"]


@pytest.fixture
async def developer(live: LiveIdp) -> AsyncIterator[Browser]:
    browser = await portal_login(live, "developer", "developer123")
    yield browser
    await browser.close()


async def designated_test_person(live: LiveIdp) -> str:
    """A fresh person in the preview group (created if missing), as an admin would set it up."""
    group = live.settings.access.preview_group
    username = "tp" + secrets.token_hex(4)
    directory = live.services.directory
    if isinstance(directory, LocalDirectory):
        await directory.create_person(username, "Test-person-1", name="测试 账号",
                                      email=f"{username}@example.edu", phone="+86 10 0000 0001",
                                      number="T2025001")
        if group not in {g.name for g in await directory.groups()}:
            await directory.create_group(group)
        await directory.add_member(group, username)
        return username
    dn = f"uid={username},ou=people,{SUFFIX}"
    live.slapd.ldapadd(
        f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {username}\ncn: 测试 账号\nsn: {username}\n"
        f"mail: {username}@example.edu\ntelephoneNumber: +86 10 0000 0001\n"
        f"employeeNumber: T2025001\nuserPassword: Test-person-1\n")
    try:
        live.slapd.ldapadd(f"dn: cn={group},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\n"
                           f"cn: {group}\nmember: {dn}\n")
    except RuntimeError:  # the session's slapd is shared: the group exists already
        live.slapd.ldapmodify(f"dn: cn={group},ou=groups,{SUFFIX}\nchangetype: modify\n"
                              f"add: member\nmember: {dn}\n")
    return username


async def _preview(browser: Browser, client_id: str, username: str) -> httpx.Response:
    app = await browser.http.get(f"/portal/apps/{client_id}")
    assert app.status_code == 200, app.text
    return await browser.http.post(f"/portal/apps/{client_id}/preview",
                                   data={"csrf": csrf_of(app.text), "username": username})


def _alert(page: str) -> str:
    match = re.search(r'<p class="message error" role="alert">([^<]*)</p>', page)
    assert match, "no refusal on the page"
    return html.unescape(match.group(1))


async def _previews(live: LiveIdp, client_id: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        rows = await db.execute(select(AuditEvent).where(
            AuditEvent.client_id == client_id, AuditEvent.kind == "developer").order_by(
            AuditEvent.id))
    return [e for e in rows.scalars() if e.detail.get("action") == "claims_preview"]


async def test_anyone_but_oneself_and_test_people_is_refused_alike(
        live: LiveIdp, developer: Browser) -> None:
    client_id, _, _ = await register_app(developer, scope=ASKED, reason_campus="seat rules",
                                         reason_groups="seat rules", reason_eduperson="who")
    refusals = []
    for username in ("student", "teacher", "itadmin", "nobody-like-this"):
        refused = await _preview(developer, client_id, username)
        assert refused.status_code == 403, (username, refused.text[:500])
        assert 'id="claims"' not in refused.text
        # nothing of the person leaks: not their name, not their number, not their mail
        for value in ("张三", "李老师", "2023010001", "student@example.edu", "王伟"):
            assert value not in refused.text
        refusals.append(_alert(refused.text))
    # an unknown name is refused with the same words as a real person: no account oracle
    assert len(set(refusals)) == 1 and live.settings.access.preview_group in refusals[0]
    events = await _previews(live, client_id)
    assert [(e.outcome, e.detail["target"]) for e in events] == [
        ("refused", "student"), ("refused", "teacher"), ("refused", "itadmin"),
        ("refused", "nobody-like-this")]
    assert all(e.actor == "developer" and e.detail["scopes"] == [] for e in events)


async def test_only_approved_scopes_are_previewed(live: LiveIdp, developer: Browser) -> None:
    tester = await designated_test_person(live)
    client_id, _, _ = await register_app(developer, scope=ASKED, reason_campus="seat rules",
                                         reason_groups="seat rules", reason_eduperson="who")
    page = await developer.http.get(f"/portal/apps/{client_id}")
    assert code_of(page.text, "preview-scopes") == "openid profile phone"
    assert code_of(page.text, "preview-withheld") == "campus groups eduperson"

    pending = await _preview(developer, client_id, tester)
    assert pending.status_code == 200, pending.text[:1000]
    claims = code_of(pending.text, "claims")
    assert '"preferred_username": "' + tester in claims
    assert '"phone_number": "+86 10 0000 0001"' in claims  # phone: a basic scope
    for held_back in ("T2025001", "campus_number", '"groups"', "eduperson"):
        assert held_back not in claims

    await set_status(live, client_id, "active")  # an admin approves what it asked for
    approved = await _preview(developer, client_id, tester)
    claims = code_of(approved.text, "claims")
    assert '"campus_number": "T2025001"' in claims
    assert live.settings.access.preview_group in claims  # the groups claim
    events = await _previews(live, client_id)
    assert [(e.outcome, e.detail["target"], e.detail["scopes"]) for e in events] == [
        ("success", tester, ["openid", "profile", "phone"]),
        ("success", tester, ASKED)]


async def test_the_developer_previews_themself(live: LiveIdp, developer: Browser) -> None:
    client_id, _, _ = await register_app(developer, scope=["openid", "profile", "email"])
    shown = await _preview(developer, client_id, "developer")
    assert shown.status_code == 200
    assert '"email": "developer@example.edu"' in code_of(shown.text, "claims")
    # an empty name (the form requires one) means oneself too
    empty = await _preview(developer, client_id, "")
    assert '"email": "developer@example.edu"' in code_of(empty.text, "claims")
    events = await _previews(live, client_id)
    assert [(e.outcome, e.detail["target"]) for e in events] == [("success", "developer")] * 2


async def test_without_a_preview_group_only_oneself(live: LiveIdp, developer: Browser,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """IDP_ACCESS_PREVIEW_GROUP empty: nobody is a test person, the page says so."""
    tester = await designated_test_person(live)
    client_id, _, _ = await register_app(developer, scope=["openid", "profile"])
    monkeypatch.setattr(live.settings.access, "preview_group", "")
    refused = await _preview(developer, client_id, tester)
    assert refused.status_code == 403
    assert _alert(refused.text) in ("只能预览您自己的账号。", "Only your own account can be previewed.")
    assert (await _preview(developer, client_id, "developer")).status_code == 200

