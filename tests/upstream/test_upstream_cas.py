"""The upstream sign-in goes through the protocol-neutral sign-in core: a CAS service gets its
ticket for the bound person."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import ticket_of, validate
from tests.mfa.browser import Browser
from tests.support.server import LiveIdp
from tests.upstream.binding import bound_person
from tests.upstream.flow import from_login_page


async def test_a_cas_service_signs_in_the_bound_person(live: LiveIdp) -> None:
    person, account, first = await bound_person(live)
    await first.close()
    service = service_url()
    await register_cas(live, service, attributes=["uid"])
    browser = Browser.open(live)
    try:
        start = await browser.http.get("/cas/login?" + urlencode({"service": service}))
        answer = await from_login_page(browser, start, account)
        ticket = ticket_of(answer, service)
        checked = await validate(browser, "p3/serviceValidate", service, ticket)  # type: ignore[arg-type]
    finally:
        await browser.close()
    assert checked.status_code == 200
    assert f"<cas:user>{person.username}</cas:user>" in checked.text
