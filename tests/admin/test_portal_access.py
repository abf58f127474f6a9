"""Who may use a developer's app, set in the portal over real HTTP: a narrower rule applies at
once and is enforced by the CAS server, a wider one waits for an admin, who approves or declines
it in the console."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from idp.admin import service_clients
from idp.admin.service_common import Actor
from idp.db.models import AuditEvent, Client
from idp.protocols.cas.registry import create_service
from tests.admin.conftest_registration import csrf_of, live_fixture, portal_login  # noqa: F401
from tests.admin.console_support import console_browser
from tests.admin.console_support import csrf_of as console_csrf_of
from tests.admin.support import AdminBackend
from tests.cas.conftest import service_url
from tests.cas.flow import cas_login, ticket_of
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp


@pytest.fixture
async def developer(live: LiveIdp) -> AsyncIterator[Browser]:
    browser = await portal_login(live, "developer", "developer123")
    yield browser
    await browser.close()


async def _set(browser: Browser, client_id: str, groups: str, affiliations: str = "") -> str:
    page = await browser.http.get(f"/portal/cas/{client_id}")
    assert page.status_code == 200, page.text
    answer = await browser.http.post(f"/portal/apps/{client_id}/access", data={
        "csrf": csrf_of(page.text), "allow_groups": groups, "allow_affiliations": affiliations})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def _rule(live: LiveIdp, client_id: str) -> tuple[dict, dict | None]:
    async with live.services.db() as db:
        row = await db.get(Client, client_id)
    assert row is not None
    return (row.extra or {}).get("access") or {}, (row.extra or {}).get("access_request")


async def _student_gets_in(live: LiveIdp, service: str) -> bool:
    person = Browser.open(live)
    try:
        answer = await cas_login(person, service)
        if answer.status_code == 403:
            assert "location" not in answer.headers
            return False
        ticket_of(answer, service)
        return True
    finally:
        await person.close()


async def test_narrowing_applies_at_once_and_widening_waits_for_an_admin(
        live: LiveIdp, developer: Browser) -> None:
    me = await live.services.directory.find("developer")
    assert me is not None
    service = service_url()
    app = await create_service(live.services.db, name="实验室预约 Lab booking",
                               services=[service], owner=me.subject)
    assert await _student_gets_in(live, service)

    location = await _set(developer, app.client_id, "staff")
    assert location == f"/portal/cas/{app.client_id}?access=saved"
    assert await _rule(live, app.client_id) == ({"groups": ["staff"], "affiliations": []}, None)
    assert not await _student_gets_in(live, service)

    location = await _set(developer, app.client_id, "staff\nstudents")
    assert location.endswith("?access=requested")
    rule, asked = await _rule(live, app.client_id)
    assert rule == {"groups": ["staff"], "affiliations": []}
    assert asked is not None and asked["groups"] == ["staff", "students"]
    assert asked["requested_by"] == "developer"
    assert not await _student_gets_in(live, service)
    page = await developer.http.get(f"/portal/cas/{app.client_id}")
    assert 'id="access-asked"' in page.text and "students" in page.text

    await service_clients.answer_access_request(
        live.services, Actor(username="itadmin", via="console"), app.client_id, True)
    assert await _rule(live, app.client_id) == (
        {"groups": ["staff", "students"], "affiliations": []}, None)
    assert await _student_gets_in(live, service)

    # clearing the rule lets everyone in: that, too, is a request
    assert (await _set(developer, app.client_id, "")).endswith("?access=requested")
    async with live.services.db() as db:
        actions = [e.detail.get("action") for e in (await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "developer", AuditEvent.client_id == app.client_id)
            .order_by(AuditEvent.id))).scalars()]
    assert actions == ["access_rule", "access_request", "access_request"]


async def test_a_bad_rule_is_a_readable_error_and_changes_nothing(
        live: LiveIdp, developer: Browser) -> None:
    me = await live.services.directory.find("developer")
    assert me is not None
    app = await create_service(live.services.db, name="Finance", services=[service_url()],
                               owner=me.subject)
    page = await developer.http.get(f"/portal/cas/{app.client_id}")
    answer = await developer.http.post(f"/portal/apps/{app.client_id}/access", data={
        "csrf": csrf_of(page.text), "allow_groups": "x" * 300})
    assert answer.status_code == 400 and "is not a name" in answer.text
    forged = await developer.http.post(f"/portal/apps/{app.client_id}/access", data={
        "csrf": "forged", "allow_groups": "staff"})
    assert forged.status_code == 403
    assert await _rule(live, app.client_id) == ({}, None)


async def test_the_console_approves_or_declines_a_request(backend: AdminBackend) -> None:
    app = await create_service(backend.services.db, name="图书馆 Library",
                               services=[service_url()], owner="someone")
    await service_clients.set_access_rule(backend.services.db, app.client_id,
                                          service_clients.checked_rule(["staff"], []))
    rule = service_clients.checked_rule(["staff"], ["student"])
    await service_clients.request_access_rule(backend.services.db, app.client_id, rule,
                                              "developer", "2026-12-06T10:00:00+00:00")
    browser, _ = await console_browser(backend)
    try:
        page = await browser.http.get(f"/admin/clients/{app.client_id}")
        assert 'id="access-request"' in page.text and "student" in page.text
        declined = await browser.http.post(f"/admin/clients/{app.client_id}/decline_access",
                                           data={"csrf": console_csrf_of(page.text)})
        assert declined.status_code == 303
        assert await _rule(backend.live, app.client_id) == (
            {"groups": ["staff"], "affiliations": []}, None)
        again = await browser.http.post(f"/admin/clients/{app.client_id}/approve_access",
                                        data={"csrf": console_csrf_of(page.text)})
        assert again.status_code in (400, 409), again.text[:300]  # nothing waits any more

        await service_clients.request_access_rule(backend.services.db, app.client_id, rule,
                                                  "developer", "2026-12-06T10:05:00+00:00")
        approved = await browser.http.post(f"/admin/clients/{app.client_id}/approve_access",
                                           data={"csrf": console_csrf_of(page.text)})
        assert approved.status_code == 303
        assert await _rule(backend.live, app.client_id) == (
            {"groups": ["staff"], "affiliations": ["student"]}, None)
    finally:
        await browser.close()
