"""CAS services registered in the developer portal over real HTTP: the form's rules, the wait
for an admin's approval (the CAS server refuses the service until then), a real sign-in once
approved, and edits that go beyond the approval waiting again."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from idp.admin import service_clients
from idp.admin.service_common import Actor
from idp.db.models import AuditEvent, Client
from tests.admin.conftest_registration import csrf_of, live_fixture, portal_login  # noqa: F401
from tests.cas.flow import cas_login, ticket_of, validate
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp

ADMIN = Actor(username="admin", via="console")


@pytest.fixture
async def developer(live: LiveIdp) -> AsyncIterator[Browser]:
    browser = await portal_login(live, "developer", "developer123")
    yield browser
    await browser.close()


def _host() -> str:
    return f"jw-{secrets.token_hex(4)}.example.edu"


async def _post_form(browser: Browser, path: str, **fields: object) -> object:
    form = await browser.http.get(path)
    assert form.status_code == 200, form.text
    data: dict[str, object] = {"csrf": csrf_of(form.text), "name": "教务系统 Academic affairs",
                               "services": "", "slo_url": "", "attribute": ["uid", "cn"],
                               "reason": "course registration needs the student number"}
    data.update(fields)
    return await browser.http.post(path, data=data)


async def _register(browser: Browser, **fields: object) -> str:
    response = await _post_form(browser, "/portal/cas/new", **fields)
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    location = response.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith("/portal/cas/") and location.endswith("?saved=1")
    return urlsplit(location).path.rsplit("/", 1)[1]


async def _client(live: LiveIdp, client_id: str) -> Client:
    async with live.services.db() as db:
        found = await db.get(Client, client_id)
    assert found is not None
    return found


async def test_a_registered_service_waits_for_approval_then_signs_people_in(
        live: LiveIdp, developer: Browser) -> None:
    host = _host()
    service = f"https://{host}/login"
    client_id = await _register(developer, services=rf"^https://{host.replace('.', chr(92) + '.')}/.*$",
                                slo_url=f"https://{host}/slo",
                                attribute=["uid", "cn", "employeeNumber"])
    row = await _client(live, client_id)
    assert row.protocol == "cas" and row.status == "pending"
    assert row.owner is not None and row.extra["cas"]["attributes"] == ["uid", "cn",
                                                                          "employeeNumber"]
    page = await developer.http.get(f"/portal/cas/{client_id}")
    assert page.status_code == 200 and 'data-status="pending"' in page.text
    assert f"{live.settings.issuer}/cas" in page.text
    home = await developer.http.get("/portal")
    assert f"/portal/cas/{client_id}" in home.text

    person = Browser.open(live)
    try:
        refused = await person.http.get("/cas/login", params={"service": service})
        assert refused.status_code == 403 and "location" not in refused.headers

        await service_clients.approve(live.services, ADMIN, client_id)
        answer = await cas_login(person, service)
        ticket = ticket_of(answer, service)
        validated = await validate(person, "p3/serviceValidate", service, ticket)
        assert "<cas:user>student</cas:user>" in validated.text, validated.text
        assert "<cas:employeeNumber>" in validated.text
        assert "<cas:mail>" not in validated.text  # not asked for, not released
    finally:
        await person.close()
    async with live.services.db() as db:
        events = (await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "developer", AuditEvent.client_id == client_id))).scalars().all()
    assert [e.detail.get("action") for e in events] == ["register"]


async def test_an_edit_beyond_the_approval_waits_again_and_a_narrower_one_does_not(
        live: LiveIdp, developer: Browser) -> None:
    host = _host()
    client_id = await _register(developer, services=f"https://{host}/login")
    await service_clients.approve(live.services, ADMIN, client_id)
    path = f"/portal/cas/{client_id}/edit"

    narrower = await _post_form(developer, path, services=f"https://{host}/login",
                                attribute=["uid"])
    assert narrower.status_code == 303  # type: ignore[attr-defined]
    assert (await _client(live, client_id)).status == "active"

    more = await _post_form(developer, path, services=f"https://{host}/login",
                            attribute=["uid", "telephoneNumber"])
    assert more.status_code == 303  # type: ignore[attr-defined]
    row = await _client(live, client_id)
    assert row.status == "pending" and row.extra["cas"]["attributes"] == ["uid",
                                                                          "telephoneNumber"]
    await service_clients.approve(live.services, ADMIN, client_id)
    wider = await _post_form(developer, path, services=f"https://{host}/login\n"
                             f"https://{host}/other", attribute=["uid"])
    assert wider.status_code == 303  # type: ignore[attr-defined]
    assert (await _client(live, client_id)).status == "pending"


@pytest.mark.parametrize(("services", "problem"), [
    ("", "at least one service"),
    ("http://jw.example.edu/login", "https"),
    (r"^https://.*$", "host spelled out"),
    (r"^https://[a-z]+\.example\.edu/.*$", "host spelled out"),
    (r"^https://jw\.example\.edu/.*|.*$", "outside a group"),
    (r"^https://jw\.example\.edu/(a|b$", "not a valid regular expression"),
])
async def test_the_form_refuses_what_a_developer_may_not_register(
        live: LiveIdp, developer: Browser, services: str, problem: str) -> None:
    before = await developer.http.get("/portal")
    response = await _post_form(developer, "/portal/cas/new", services=services)
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    assert problem in response.text  # type: ignore[attr-defined]
    after = await developer.http.get("/portal")
    assert after.text.count("/portal/cas/") == before.text.count("/portal/cas/")


async def test_another_apps_urls_cannot_be_claimed(live: LiveIdp, developer: Browser) -> None:
    host = _host()
    await _register(developer, services=f"https://{host}/cas")
    escaped = host.replace(".", "\\.")
    for claim in (f"https://{host}/cas", rf"^https://{escaped}/.*$"):
        response = await _post_form(developer, "/portal/cas/new", services=claim)
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "已属于另一个应用" in response.text  # type: ignore[attr-defined]


async def test_a_form_without_its_csrf_token_changes_nothing(
        live: LiveIdp, developer: Browser) -> None:
    host = _host()
    response = await developer.http.post("/portal/cas/new", data={
        "csrf": "forged", "name": "x", "services": f"https://{host}/login", "reason": "r"})
    assert response.status_code == 403
    async with live.services.db() as db:
        rows = (await db.execute(select(Client).where(Client.protocol == "cas"))).scalars()
        assert not any(host in str(row.extra) for row in rows)


async def test_someone_elses_service_is_not_found(live: LiveIdp, developer: Browser) -> None:
    from idp.protocols.cas.registry import create_service

    other = await create_service(live.services.db, name="Finance",
                                 services=[f"https://{_host()}/login"], owner="someone-else")
    for path in (f"/portal/cas/{other.client_id}", f"/portal/cas/{other.client_id}/edit"):
        assert (await developer.http.get(path)).status_code == 404
