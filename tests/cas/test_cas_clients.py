"""A CAS client library that nobody here wrote signs people in: python-cas (the maintained CAS
client on PyPI) validates tickets with CAS 1.0, 2.0 and 3.0, reads the attributes, and parses
the single logout request it is sent. Its HTTP calls are blocking, so they run in a thread
while this loop serves the IdP."""

from __future__ import annotations

import asyncio

from cas import CASClient

from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import cas_login, ticket_of
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp


def client(live: LiveIdp, version: int, service: str) -> CASClient:
    return CASClient(version=version, service_url=service, server_url=f"{live.base_url}/cas/")


async def test_python_cas_login_url_is_ours(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service)
    login_url = client(live, 3, service).get_login_url()
    assert login_url.startswith(f"{live.base_url}/cas/login?service=")
    ticket_of(await browser.visit(login_url), service)


async def test_python_cas_v3_reads_user_and_attributes(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service, attributes=["uid", "cn", "mail", "memberOf",
                                                  "eduPersonAffiliation"])
    ticket = ticket_of(await cas_login(browser, service, username="teacher",
                                       password="teacher123"), service)
    user, attributes, pgtiou = await asyncio.to_thread(
        client(live, 3, service).verify_ticket, ticket)
    assert user == "teacher"
    assert pgtiou is None
    assert attributes["uid"] == "teacher"
    assert attributes["isFromNewLogin"] == "true"
    assert attributes["cn"]
    assert "faculty" in attributes["eduPersonAffiliation"]


async def test_python_cas_v2_and_v1(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service)
    ticket = ticket_of(await cas_login(browser, service), service)
    user, attributes, _ = await asyncio.to_thread(client(live, 2, service).verify_ticket, ticket)
    assert (user, attributes) == ("student", None)
    ticket = ticket_of(await browser.http.get("/cas/login", params={"service": service}), service)
    user, _, _ = await asyncio.to_thread(client(live, 1, service).verify_ticket, ticket)
    assert user == "student"
    # used: CAS 1.0 says no
    user, _, _ = await asyncio.to_thread(client(live, 1, service).verify_ticket, ticket)
    assert user is None


async def test_python_cas_refuses_a_ticket_for_another_service(
        live: LiveIdp, browser: Browser) -> None:
    service, other = service_url(), service_url()
    await register_cas(live, service)
    ticket = ticket_of(await cas_login(browser, service), service)
    user, _, _ = await asyncio.to_thread(client(live, 3, other).verify_ticket, ticket)
    assert user is None
