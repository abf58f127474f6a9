"""Several identities, one person, through CAS: the same choice in the sign-in core as for
OpenID Connect. The ticket validates to exactly the chosen entry, the choice is remembered per
service, a service's access rule picks the identity, and `renew` still needs a new password."""

from __future__ import annotations

from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import cas_login, ticket_of, validate
from tests.identities.conftest import STUDENT, TA, choose, offered
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp

ATTRIBUTES = ["uid", "cn", "employeeNumber", "ou", "eduPersonAffiliation"]


async def test_the_ticket_names_the_chosen_identity_and_the_choice_is_remembered(
        live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service, attributes=ATTRIBUTES)
    page = await cas_login(browser, service, username=STUDENT.username,
                           password=STUDENT.password)
    assert browser.pages[-1] == "identity"
    assert set(offered(page)) == {STUDENT.username, TA.username}
    ticket = ticket_of(await choose(browser, page, TA.username), service)
    answer = await validate(browser, "p3/serviceValidate", service, ticket)
    assert f"<cas:user>{TA.username}</cas:user>" in answer.text
    for value in (TA.name, TA.number, TA.department, "staff"):
        assert value in answer.text
    assert STUDENT.number not in answer.text
    # the next ticket for the service: no page, the same identity
    again = await cas_login(browser, service)
    assert "identity" not in browser.pages
    answer = await validate(browser, "p3/serviceValidate", service, ticket_of(again, service))
    assert f"<cas:user>{TA.username}</cas:user>" in answer.text


async def test_a_service_rule_picks_the_identity(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service, extra={"access": {"affiliations": ["student"]}})
    answer = await cas_login(browser, service, username=TA.username, password=TA.password)
    assert "identity" not in browser.pages
    validated = await validate(browser, "serviceValidate", service, ticket_of(answer, service))
    assert f"<cas:user>{STUDENT.username}</cas:user>" in validated.text


async def test_gateway_never_shows_the_choice(live: LiveIdp, browser: Browser) -> None:
    chosen_for = service_url()
    await register_cas(live, chosen_for)
    page = await cas_login(browser, chosen_for, username=STUDENT.username,
                           password=STUDENT.password)
    await choose(browser, page, STUDENT.username)
    service = service_url()
    await register_cas(live, service)
    gateway = await browser.http.get("/cas/login", params={"service": service,
                                                           "gateway": "true"})
    assert gateway.status_code == 303 and gateway.headers["location"] == service  # no ticket


async def test_renew_after_a_choice_is_a_new_login_and_says_so(live: LiveIdp,
                                                             browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service)
    page = await cas_login(browser, service, username=STUDENT.username,
                           password=STUDENT.password, renew="true")
    assert browser.pages[0] == "login"
    ticket = ticket_of(await choose(browser, page, STUDENT.username), service)
    answer = await validate(browser, "p3/serviceValidate", service, ticket, renew="true")
    assert "<cas:authenticationSuccess>" in answer.text
    assert "<cas:isFromNewLogin>true</cas:isFromNewLogin>" in answer.text
    # without renew, a choice made with the session alone is no new login
    other = service_url()
    await register_cas(live, other)
    page = await cas_login(browser, other)
    assert browser.pages == ["identity"]
    ticket = ticket_of(await choose(browser, page, TA.username), other)
    answer = await validate(browser, "p3/serviceValidate", other, ticket)
    assert "<cas:isFromNewLogin>false</cas:isFromNewLogin>" in answer.text
