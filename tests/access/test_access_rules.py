"""Who may use which app (idp/sso/access.py), through OIDC and CAS, on both backend sets: a person
outside an app's rule gets a page naming the app and whom to ask, the app gets no code or ticket
(access_denied only for prompt=none), the refusal is audited, and a person taken out of the
group loses the app at the next refresh or CAS validation."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from directory.base import Person
from idp.admin.service_clients import set_access_rule
from idp.db.models import AuditEvent
from idp.sso.access import AccessRule, checked_rule
from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import cas_login, ticket_of, validate
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, exchange, query_of, register
from tests.support.people import add_person, join_group, leave_group
from tests.support.server import LiveIdp


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    name = "live_idp" if request.param == "embedded" else "live_idp_production"
    return request.getfixturevalue(name)


@pytest.fixture
async def browser(live: LiveIdp) -> AsyncIterator[Browser]:
    opened = Browser.open(live)
    yield opened
    await opened.close()


async def limited(live: LiveIdp, name: str = "科研管理 Research office",
                  **rule: list[str]) -> RegisteredClient:
    """A first-party client whose access rule is set as `idp clients add --allow-…` sets it."""
    client = await register(live, name=name, skip_consent=True)
    await set_access_rule(live.services.db, client.client_id,
                          checked_rule(rule.get("groups", []), rule.get("affiliations", [])))
    return client


def params(client: RegisteredClient, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
            "scope": "openid profile", "state": secrets.token_urlsafe(8), **extra}


async def denials(live: LiveIdp, client_id: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        return list((await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "access", AuditEvent.client_id == client_id))).scalars())


def test_a_rule_matches_groups_or_affiliations() -> None:
    person = Person("s", "alice", groups=("计算机学院教师",), affiliations=("faculty",))
    assert AccessRule().allows(person)
    assert AccessRule(groups=("计算机学院教师",)).allows(person)
    assert AccessRule(affiliations=("FACULTY",)).allows(person)
    assert AccessRule(groups=("staff",), affiliations=("faculty",)).allows(person)
    assert not AccessRule(groups=("staff",), affiliations=("student",)).allows(person)
    with pytest.raises(ValueError):
        checked_rule(["ok", " "], [])


async def test_outside_the_rule_a_page_and_no_code(live: LiveIdp, browser: Browser) -> None:
    client = await limited(live, groups=["idp-admins"])
    answer = await browser.authorize(params(client))  # the student signs in...
    assert answer.status_code == 403  # ...and is refused at the provider, not at the app
    assert "location" not in answer.headers
    assert "科研管理 Research office" in answer.text and "text/html" in answer.headers[
        "content-type"]
    events = await denials(live, client.client_id)
    assert [(e.outcome, e.actor, e.detail.get("protocol")) for e in events] == [
        ("denied", "student", "oidc")]
    # prompt=none, with the session: the client hears access_denied and nothing else
    silent = await browser.http.get("/authorize", params=params(client, prompt="none"))
    assert silent.status_code == 302
    assert query_of(silent.headers["location"])["error"] == "access_denied"
    # someone inside the rule gets a code
    admin = Browser.open(live)
    try:
        inside = await admin.authorize(params(client), username="itadmin", password="itadmin123")
        assert inside.status_code == 302 and "code=" in inside.headers["location"]
    finally:
        await admin.close()


async def test_taken_out_of_the_group_no_more_refresh(live: LiveIdp, browser: Browser) -> None:
    username = f"lab{secrets.token_hex(3)}"
    await add_person(live, username, "Lab-password-1", name="Lab Member")
    await join_group(live, "staff", username)
    client = await limited(live, "实验室预约 Lab booking", groups=["staff"])
    answer = await browser.authorize(params(client, scope="openid offline_access"),
                                     username=username, password="Lab-password-1")
    code = query_of(answer.headers["location"])["code"]
    tokens = (await exchange(live, client, code)).json()
    refreshed = await _refresh(live, client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    await leave_group(live, "staff", username)
    refused = await _refresh(live, client, refreshed.json()["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def _refresh(live: LiveIdp, client: RegisteredClient, token: str):  # noqa: ANN202
    async with live.client() as http:
        return await http.post("/token", data={"grant_type": "refresh_token",
                                               "refresh_token": token},
                               auth=(client.client_id, client.secret))


async def test_cas_outside_the_rule(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    app = await register_cas(live, service, extra={"access": {"groups": ["idp-admins"]}})
    refused = await cas_login(browser, service)
    assert refused.status_code == 403 and "location" not in refused.headers
    gateway = await browser.http.get("/cas/login", params={"service": service, "gateway": "true"})
    assert gateway.status_code == 303 and gateway.headers["location"] == service  # no ticket
    assert [(e.actor, e.detail.get("protocol")) for e in await denials(live, app.client_id)] == [
        ("student", "cas"), ("student", "cas")]


async def test_cas_validation_checks_the_rule_again(live: LiveIdp, browser: Browser) -> None:
    username = f"cas{secrets.token_hex(3)}"
    await add_person(live, username, "Cas-password-1", name="CAS Member")
    await join_group(live, "staff", username)
    service = service_url()
    await register_cas(live, service, extra={"access": {"groups": ["staff"]}})
    ticket = ticket_of(await cas_login(browser, service, username=username,
                                       password="Cas-password-1"), service)
    await leave_group(live, "staff", username)
    answer = await validate(browser, "serviceValidate", service, ticket)
    assert 'code="INVALID_TICKET"' in answer.text and "may not use" in answer.text
