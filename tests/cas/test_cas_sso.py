"""One single sign-on across protocols, and single logout everywhere: a person signed in through
an OIDC app opens a CAS app without a password, and the other way round; ending the session
(here /cas/logout) POSTs the SAML LogoutRequest to every CAS service used in it, with the
service ticket as SessionIndex, recorded like back-channel logout."""

from __future__ import annotations

from cas import CASClient
from sqlalchemy import select

from idp.db.models import LogoutDelivery
from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import cas_login, ticket_of, validate
from tests.oauth.flow import Browser, register
from tests.support.server import LiveIdp
from tests.web.receiver import Receiver


async def test_oidc_then_cas_asks_no_password(live: LiveIdp, browser: Browser) -> None:
    app = await register(live, skip_consent=True)
    await browser.code(app)
    assert "login" in browser.pages
    service = service_url()
    await register_cas(live, service)
    answer = await browser.http.get("/cas/login", params={"service": service})
    ticket = ticket_of(answer, service)
    assert "authenticationSuccess" in (await validate(browser, "serviceValidate", service,
                                                      ticket)).text


async def test_cas_then_oidc_asks_no_password(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service)
    ticket_of(await cas_login(browser, service), service)
    app = await register(live, skip_consent=True)
    await browser.code(app)
    assert "login" not in browser.pages


async def test_a_service_that_requires_a_second_factor_steps_up(
        live: LiveIdp, browser: Browser) -> None:
    plain = service_url()
    await register_cas(live, plain)
    ticket_of(await cas_login(browser, plain), plain)
    strict = service_url()
    await register_cas(live, strict, extra={"require_mfa": True})
    answer = await browser.http.get("/cas/login", params={"service": strict})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/mfa/")


async def test_logout_tells_every_cas_service_with_its_ticket(
        live: LiveIdp, browser: Browser, slo_receiver: Receiver) -> None:
    service = service_url()
    app = await register_cas(live, service, slo_url=f"{slo_receiver.base_url}/ok")
    ticket = ticket_of(await cas_login(browser, service), service)
    assert "authenticationSuccess" in (await validate(browser, "serviceValidate", service,
                                                      ticket)).text
    sid = browser.http.cookies.get(live.settings.session.cookie_name)
    assert sid
    bye = await browser.http.get("/cas/logout", params={"url": "https://evil.example.com/"})
    assert bye.status_code == 303 and bye.headers["location"] == "/logout/done"
    notices = [r for r in slo_receiver.at("/ok") if ticket in r.form.get("logoutRequest", "")]
    assert len(notices) == 1
    # the client library reads it as the logout of that ticket
    indexes = list(CASClient(version=3, service_url=service).get_saml_slos(
        notices[0].form["logoutRequest"]))
    assert [index.text for index in indexes] == [ticket]
    async with live.services.db() as db:
        rows = (await db.execute(select(LogoutDelivery).where(
            LogoutDelivery.client_id == app.client_id))).scalars().all()
    assert [(row.status, row.sid) for row in rows] == [("delivered", sid)]
    # signed out: the next login asks for the password
    again = await browser.http.get("/cas/login", params={"service": service})
    assert again.headers["location"].startswith("/login/")


async def test_logout_redirects_only_to_a_registered_service(
        live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    await register_cas(live, service)
    ticket_of(await cas_login(browser, service), service)
    back = await browser.http.get("/cas/logout", params={"service": service})
    assert back.status_code == 303 and back.headers["location"] == service
    elsewhere = await browser.http.get("/cas/logout",
                                       params={"service": "https://evil.example.com/"})
    assert elsewhere.headers["location"] == "/logout/done"


async def test_tickets_of_an_ended_session_still_validate_but_none_are_issued(
        live: LiveIdp, browser: Browser) -> None:
    """A ticket issued just before the logout stays valid for its seconds (the service will
    get the logout request); the session's cookie gets no more tickets."""
    service = service_url()
    await register_cas(live, service)
    ticket = ticket_of(await cas_login(browser, service), service)
    cookie = browser.http.cookies.get(live.settings.session.cookie_name)
    await browser.http.get("/cas/logout")
    assert "authenticationSuccess" in (await validate(browser, "serviceValidate", service,
                                                      ticket)).text
    async with live.client(cookies={live.settings.session.cookie_name: cookie or ""}) as old:
        answer = await old.get("/cas/login", params={"service": service})
    assert answer.headers["location"].startswith("/login/")
