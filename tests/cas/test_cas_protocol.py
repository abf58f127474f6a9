"""CAS Protocol 3.0, rule by rule, over real HTTP on the embedded defaults and on slapd + Redis +
PostgreSQL: /cas/login (service, renew, gateway, method), ticket rules (single use, bound to its
service, expiry, format), the validation endpoints and their error codes, XML against the
response schema, JSON."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from sqlalchemy import select

from idp.db.models import AuditEvent
from idp.protocols.cas.tickets import Ticket, Tickets
from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import TICKET, cas_login, ticket_of, validate
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp

NS = {"cas": "http://www.yale.edu/tp/cas"}
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("cas-response.xsd"))))


def document(text: str) -> etree._Element:
    root = etree.fromstring(text.encode())
    SCHEMA.assertValid(root)  # every answer validates against the CAS 3.0 response schema
    return root


def failure_code(text: str) -> str:
    found = document(text).xpath("//cas:authenticationFailure/@code", namespaces=NS)
    assert found, text
    return str(found[0])


async def signed_in_ticket(live: LiveIdp, browser: Browser, **kwargs: object) -> tuple[str, str]:
    service = service_url()
    await register_cas(live, service, **kwargs)
    return service, ticket_of(await cas_login(browser, service), service)


async def test_login_without_a_session_asks_for_the_password_then_redirects_with_a_ticket(
        live: LiveIdp, browser: Browser) -> None:
    service = service_url("?next=/grades")
    await register_cas(live, service)
    first = await browser.http.get("/cas/login", params={"service": service})
    assert first.status_code == 303 and first.headers["location"].startswith("/login/")
    answer = await browser.walk(first)
    assert browser.pages[0] == "login"
    ticket = ticket_of(answer, service)
    # the service's own query stays; the ticket is appended (Appendix B)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query == {"next": ["/grades"], "ticket": [ticket]}
    assert answer.headers["cache-control"] == "no-store"


async def test_a_session_gets_a_ticket_without_a_page(live: LiveIdp, browser: Browser) -> None:
    service, _ = await signed_in_ticket(live, browser)
    again = await browser.http.get("/cas/login", params={"service": service})
    ticket_of(again, service)


async def test_ticket_lives_ticket_ttl_in_the_store(live: LiveIdp, browser: Browser) -> None:
    _, ticket = await signed_in_ticket(live, browser)
    left = await live.services.store.ttl(f"cas-ticket:{ticket}")
    assert left is not None and 0 < left <= live.settings.cas.ticket_ttl == 10


async def test_p3_validation_names_the_person_with_the_registered_attributes(
        live: LiveIdp, browser: Browser) -> None:
    service, ticket = await signed_in_ticket(
        live, browser, attributes=["uid", "cn", "mail", "memberOf", "eduPersonAffiliation"])
    answer = await validate(browser, "p3/serviceValidate", service, ticket)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert answer.headers["cache-control"] == "no-store"
    root = document(answer.text)
    assert root.xpath("string(//cas:user)", namespaces=NS) == "student"
    attributes = root.xpath("//cas:attributes", namespaces=NS)[0]
    names = [etree.QName(child).localname for child in attributes]
    assert names[:3] == ["authenticationDate", "longTermAuthenticationRequestTokenUsed",
                         "isFromNewLogin"]
    assert root.xpath("string(//cas:isFromNewLogin)", namespaces=NS) == "true"
    assert root.xpath("string(//cas:uid)", namespaces=NS) == "student"
    assert root.xpath("string(//cas:mail)", namespaces=NS).endswith("@example.edu")
    groups = root.xpath("//cas:memberOf/text()", namespaces=NS)
    assert len(groups) >= 1  # one element per value
    # nothing it was not registered for
    assert not root.xpath("//cas:telephoneNumber", namespaces=NS)
    assert not root.xpath("//cas:employeeNumber", namespaces=NS)


async def test_cas2_validation_has_no_attributes(live: LiveIdp, browser: Browser) -> None:
    service, ticket = await signed_in_ticket(live, browser)
    root = document((await validate(browser, "serviceValidate", service, ticket)).text)
    assert root.xpath("string(//cas:user)", namespaces=NS) == "student"
    assert not root.xpath("//cas:attributes", namespaces=NS)


async def test_a_ticket_validates_once_pass_or_fail(live: LiveIdp, browser: Browser) -> None:
    service, ticket = await signed_in_ticket(live, browser)
    assert failure_code((await validate(browser, "p3/serviceValidate", service + "x",
                                        ticket)).text) == "INVALID_SERVICE"
    # the wrong service used the ticket up (§2.5.3 INVALID_SERVICE: MUST invalidate it)
    assert failure_code((await validate(browser, "p3/serviceValidate", service,
                                        ticket)).text) == "INVALID_TICKET"
    service, ticket = await signed_in_ticket(live, browser)
    first = await validate(browser, "serviceValidate", service, ticket)
    assert document(first.text).xpath("//cas:authenticationSuccess", namespaces=NS)
    assert failure_code((await validate(browser, "serviceValidate", service,
                                        ticket)).text) == "INVALID_TICKET"


async def test_concurrent_validations_of_one_ticket_succeed_once(
        live: LiveIdp, browser: Browser) -> None:
    service, ticket = await signed_in_ticket(live, browser)
    answers = await asyncio.gather(*(validate(browser, "serviceValidate", service, ticket)
                                     for _ in range(8)))
    successes = [a for a in answers if "authenticationSuccess" in a.text]
    assert len(successes) == 1


async def test_an_expired_ticket_is_invalid(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    app = await register_cas(live, service)
    person = await live.services.directory.find("student")
    assert person is not None
    short = Tickets(live.services.store, ticket_ttl=1, session_ttl=60)
    ticket = await short.issue("ST-", Ticket(service=service, app_id=app.client_id,
                                             subject=person.subject, sid="x", auth_time=0,
                                             new_login=False))
    await asyncio.sleep(1.3)
    assert failure_code((await validate(browser, "serviceValidate", service,
                                        ticket)).text) == "INVALID_TICKET"


@pytest.mark.parametrize("params, code", [
    ({"ticket": "ST-" + "a" * 40}, "INVALID_REQUEST"),
    ({"service": "https://x.example.edu/"}, "INVALID_REQUEST"),
    ({"service": "https://x.example.edu/", "ticket": "not-a-ticket"}, "INVALID_TICKET_SPEC"),
    ({"service": "https://x.example.edu/", "ticket": "ST-ab<c>"}, "INVALID_TICKET_SPEC"),
    ({"service": "https://x.example.edu/", "ticket": "ST-" + "a" * 40}, "INVALID_TICKET"),
])
async def test_validation_error_codes(live: LiveIdp, browser: Browser, params: dict[str, str],
                                      code: str) -> None:
    async with live.client() as http:
        answer = await http.get("/cas/p3/serviceValidate", params=params)
    assert answer.status_code == 200
    assert failure_code(answer.text) == code


async def test_a_proxy_ticket_is_refused_by_service_validate(
        live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    app = await register_cas(live, service)
    person = await live.services.directory.find("student")
    assert person is not None
    tickets = Tickets(live.services.store, ticket_ttl=10, session_ttl=60)
    proxy_ticket = await tickets.issue("PT-", Ticket(
        service=service, app_id=app.client_id, subject=person.subject, sid="x", auth_time=0,
        new_login=False, proxies=["https://proxy.example.edu/cb"]))
    answer = await validate(browser, "serviceValidate", service, proxy_ticket)
    assert failure_code(answer.text) == "INVALID_TICKET_SPEC"
    assert "proxy ticket" in answer.text
    assert await live.services.store.get(f"cas-ticket:{proxy_ticket}") is None  # one attempt


async def test_json_format(live: LiveIdp, browser: Browser) -> None:
    service, ticket = await signed_in_ticket(live, browser, attributes=["uid", "memberOf"])
    answer = await validate(browser, "p3/serviceValidate", service, ticket, format="JSON")
    assert answer.headers["content-type"].startswith("application/json")
    success = answer.json()["serviceResponse"]["authenticationSuccess"]
    assert success["user"] == "student"
    assert success["attributes"]["uid"] == "student"
    assert success["attributes"]["isFromNewLogin"] == "true"
    failure = await validate(browser, "p3/serviceValidate", service, ticket, format="json")
    assert failure.json()["serviceResponse"]["authenticationFailure"]["code"] == "INVALID_TICKET"
    unsupported = await validate(browser, "serviceValidate", service, ticket, format="YAML")
    assert failure_code(unsupported.text) == "INVALID_REQUEST"


async def test_cas1_validate(live: LiveIdp, browser: Browser) -> None:
    service, ticket = await signed_in_ticket(live, browser)
    answer = await validate(browser, "validate", service, ticket)
    assert answer.text == "yes\nstudent\n"
    assert (await validate(browser, "validate", service, ticket)).text == "no\n\n"


async def test_renew_asks_for_the_password_and_validation_can_tell(
        live: LiveIdp, browser: Browser) -> None:
    service, sso_ticket = await signed_in_ticket(live, browser)
    # a ticket from the login that asked for the password passes renew=true...
    assert "authenticationSuccess" in (await validate(
        browser, "serviceValidate", service, sso_ticket, renew="true")).text
    # ...one from single sign-on does not
    sso = ticket_of(await browser.http.get("/cas/login", params={"service": service}), service)
    assert failure_code((await validate(browser, "serviceValidate", service, sso,
                                        renew="true")).text) == "INVALID_TICKET"
    # renew at login: the password again, even with a session
    renewed = await browser.http.get("/cas/login", params={"service": service, "renew": "true"})
    assert renewed.status_code == 303 and renewed.headers["location"].startswith("/login/")
    ticket = ticket_of(await browser.walk(renewed), service)
    root = document((await validate(browser, "p3/serviceValidate", service, ticket,
                                    renew="true")).text)
    assert root.xpath("string(//cas:isFromNewLogin)", namespaces=NS) == "true"


async def test_gateway_never_shows_a_page(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service)
    anonymous = await browser.http.get("/cas/login", params={"service": service,
                                                             "gateway": "true"})
    assert anonymous.status_code == 303 and anonymous.headers["location"] == service
    ticket_of(await cas_login(browser, service), service)
    signed_in = await browser.http.get("/cas/login", params={"service": service,
                                                             "gateway": "true"})
    ticket_of(signed_in, service)


async def test_an_unregistered_service_gets_an_error_page_never_a_redirect(
        live: LiveIdp, browser: Browser) -> None:
    for params in ({"service": "https://evil.example.com/steal"},
                   {"service": "https://evil.example.com/steal", "gateway": "true"}):
        answer = await browser.http.get("/cas/login", params=params)
        assert answer.status_code == 403
        assert "location" not in answer.headers
        assert "text/html" in answer.headers["content-type"]


async def test_service_patterns_are_anchored(live: LiveIdp, browser: Browser) -> None:
    await register_cas(live, r"^https://jw\.pattern\.example\.edu/.*$")
    ok = "https://jw.pattern.example.edu/login?x=1"
    ticket_of(await cas_login(browser, ok), ok)
    for evil in ("https://jw.pattern.example.edu.evil.com/", "https://evil.com/?https://jw"
                 ".pattern.example.edu/"):
        assert (await browser.http.get("/cas/login", params={"service": evil})).status_code == 403


async def test_method_post_and_header(live: LiveIdp, browser: Browser) -> None:
    service, _ = await signed_in_ticket(live, browser)
    posted = await browser.http.get("/cas/login", params={"service": service, "method": "POST"})
    assert posted.status_code == 200
    assert f'action="{service}"' in posted.text
    ticket = posted.text.split('name="ticket" value="')[1].split('"')[0]
    assert TICKET.match(ticket)
    csp = posted.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    header = await browser.http.get("/cas/login", params={"service": service,
                                                          "method": "HEADER"})
    assert header.status_code == 200 and header.headers["service"] == service
    assert TICKET.match(header.headers["ticket"])
    bad = await browser.http.get("/cas/login", params={"service": service, "method": "PUT"})
    assert bad.status_code == 400


async def test_no_service_and_a_session_goes_to_the_account_page(
        live: LiveIdp, browser: Browser) -> None:
    await signed_in_ticket(live, browser)
    answer = await browser.http.get("/cas/login")
    assert answer.status_code == 303 and answer.headers["location"] == "/account"


async def test_a_disabled_service_is_refused(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service, status="disabled")
    assert (await browser.http.get("/cas/login", params={"service": service})).status_code == 403


async def test_issue_validation_and_refusal_are_audited_and_no_answer_echoes_a_ticket(
        live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    app = await register_cas(live, service)
    ticket = ticket_of(await cas_login(browser, service), service)
    await validate(browser, "serviceValidate", service, ticket)
    answer = await validate(browser, "serviceValidate", service, ticket)
    assert ticket not in answer.text
    async with live.services.db() as db:
        rows = (await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "cas", AuditEvent.client_id == app.client_id))).scalars().all()
        refused = (await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "cas", AuditEvent.outcome == "invalid_ticket"))).scalars().all()
    assert {row.outcome for row in rows} >= {"ticket_issued", "validated"}
    assert all(row.actor == "student" for row in rows)
    assert any(row.detail.get("service") == service for row in refused)
