"""Signing in with an account of another OpenID provider (OIDC Core §3.1 as a relying party),
against a real one: panva's oidc-provider (tests/upstream/provider.py), on both backends.

The first upstream sign-in of an account asks for the campus password once and binds the two;
later ones sign the bound person in with amr ["fed"]; an unbound account never signs anyone
in; a second factor that the app requires is still asked."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from idp.db.models import AuditEvent
from idp.db.upstream_models import UpstreamBinding
from idp.mfa.policy import ACR_FED, ACR_MFA
from tests.mfa.browser import Browser, id_token_claims
from tests.mfa.helpers import enrol_on_the_spot, mfa_client, plain_client
from tests.mfa.people import new_person
from tests.support.server import LiveIdp
from tests.upstream.conftest import UPSTREAM
from tests.upstream.flow import button, through_provider, upstream_authorize
from tests.upstream.provider import OpenIdProvider


def upstream_login() -> str:
    return f"u-{secrets.token_hex(6)}"


async def bindings_of(live: LiveIdp, external_id: str) -> list[UpstreamBinding]:
    async with live.services.db() as db:
        return list(await db.scalars(select(UpstreamBinding).where(
            UpstreamBinding.external_id == external_id)))


async def events(live: LiveIdp, kind: str, outcome: str, upstream_id: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        rows = await db.scalars(select(AuditEvent).where(
            AuditEvent.kind == kind, AuditEvent.outcome == outcome))
        return [row for row in rows if (row.detail or {}).get("upstream_id") == upstream_id]


async def test_the_login_page_offers_the_configured_provider(live: LiveIdp) -> None:
    client = await plain_client(live)
    browser = Browser.open(live)
    try:
        response = await browser.http.get("/authorize", params={
            "response_type": "code", "client_id": client.client_id, "scope": "openid",
            "redirect_uri": "https://rp.example.edu/cb"})
        page = await browser.http.get(response.headers["location"])
        assert button(page.text, UPSTREAM).startswith(f"/upstream/{UPSTREAM}/start/")
        assert "合作大学" in page.text  # the zh label (the default locale)
    finally:
        await browser.close()


async def test_first_sign_in_binds_with_the_campus_password_then_signs_in_alone(
        live: LiveIdp) -> None:
    person = await new_person(live, prefix="up")
    client = await plain_client(live)
    account = upstream_login()

    first = Browser.open(live)
    try:
        asked = await upstream_authorize(first, client, account)
        # unbound: back at the campus login page, which says what signing in will do
        assert asked.status_code == 200 and asked.url.path.startswith("/login/")
        assert 'id="upstream-bind"' in asked.text
        assert await bindings_of(live, account) == []
        assert live.settings.session.cookie_name not in first.http.cookies
        done = await first.submit(asked, {"username": person.username,
                                          "password": person.password}, person=person)
        claims = await id_token_claims(live, client, done)
        assert claims["amr"] == ["pwd"]
    finally:
        await first.close()
    [binding] = await bindings_of(live, account)
    target = await live.services.directory.find(person.username)
    assert target is not None
    assert (binding.subject, binding.provider, binding.bound_by) == (target.subject, UPSTREAM, "self")
    assert binding.issuer == live.settings.upstream.by_name[UPSTREAM].issuer
    assert binding.display_name == f"Upstream {account}"
    assert await events(live, "upstream", "bound", account)

    later = Browser.open(live)
    try:
        done = await upstream_authorize(later, client, account)  # no password this time
        claims = await id_token_claims(live, client, done)
    finally:
        await later.close()
    assert claims["sub"] == target.subject
    assert claims["amr"] == ["fed"] and claims["acr"] == ACR_FED
    assert await events(live, "login", "success", account)
    [binding] = await bindings_of(live, account)
    assert binding.last_used_at is not None


async def test_an_unbound_account_signs_no_one_in(live: LiveIdp) -> None:
    client = await plain_client(live)
    account = upstream_login()
    async with live.services.db() as db:
        before = await db.scalar(select(func.count()).select_from(UpstreamBinding))
    browser = Browser.open(live)
    try:
        page = await upstream_authorize(browser, client, account)
        assert page.status_code == 200 and page.url.path.startswith("/login/")
        # a wrong campus password binds nothing
        wrong = await browser.http.post(page.url.path, data={
            "csrf": page.text.split('name="csrf" value="')[1].split('"')[0],
            "username": "student", "password": "not-the-password"})
        assert wrong.status_code == 401
        assert live.settings.session.cookie_name not in browser.http.cookies
    finally:
        await browser.close()
    assert await bindings_of(live, account) == []
    async with live.services.db() as db:
        assert await db.scalar(select(func.count()).select_from(UpstreamBinding)) == before
    assert await events(live, "upstream", "unbound", account)


async def test_an_app_that_requires_a_second_factor_still_gets_one(live: LiveIdp) -> None:
    person = await new_person(live, prefix="upm")
    account = upstream_login()
    plain = await plain_client(live)
    binder = Browser.open(live)
    try:
        asked = await upstream_authorize(binder, plain, account)
        await binder.submit(asked, {"username": person.username, "password": person.password},
                            person=person)
    finally:
        await binder.close()
    assert await bindings_of(live, account)

    finance = await mfa_client(live)
    browser = Browser.open(live)
    try:
        page = await upstream_authorize(browser, finance, account)
        # the bound account is not enough: the second factor page, no session yet
        assert page.url.path.startswith("/mfa/"), page.url
        assert live.settings.session.cookie_name not in browser.http.cookies
        _, _, done = await enrol_on_the_spot(browser, page)
        claims = await id_token_claims(live, finance, done)
    finally:
        await browser.close()
    assert claims["amr"] == ["fed", "otp"] and claims["acr"] == ACR_MFA


async def test_a_callback_from_another_browser_is_refused(live: LiveIdp) -> None:
    """The trip is bound to the browser that started it: a victim's browser sent an attacker's
    callback URL (login CSRF) finds nothing, and the trip is spent."""
    client = await plain_client(live)
    attacker, victim = Browser.open(live), Browser.open(live)
    try:
        response = await attacker.http.get("/authorize", params={
            "response_type": "code", "client_id": client.client_id, "scope": "openid",
            "redirect_uri": "https://rp.example.edu/cb"})
        page = await attacker.http.get(response.headers["location"])
        started = await attacker.http.get(button(page.text, UPSTREAM))
        back = await through_provider(attacker, started, upstream_login())
        refused = await victim.http.get(back)
        assert refused.status_code == 400
        again = await attacker.http.get(back)  # single use: the victim's visit spent it
        assert again.status_code == 400
        assert live.settings.session.cookie_name not in victim.http.cookies
    finally:
        await attacker.close()
        await victim.close()


async def test_a_made_up_state_or_an_error_answer(live: LiveIdp,
                                                  provider: OpenIdProvider) -> None:
    browser = Browser.open(live)
    try:
        made_up = await browser.http.get(f"/upstream/{UPSTREAM}/callback",
                                         params={"state": "x" * 43, "code": "abc"})
        assert made_up.status_code == 400 and "<html" in made_up.text
        unknown = await browser.http.get(f"/upstream/nope/start/{'x' * 32}")
        assert unknown.status_code in (400, 404)
        client = await plain_client(live)
        response = await browser.http.get("/authorize", params={
            "response_type": "code", "client_id": client.client_id, "scope": "openid",
            "redirect_uri": "https://rp.example.edu/cb"})
        login = response.headers["location"]
        page = await browser.http.get(login)
        started = await browser.http.get(button(page.text, UPSTREAM))
        state = started.headers["location"].split("state=")[1].split("&")[0]
        # the person refused at the provider (RFC 6749 §4.1.2.1): back at the login page
        refused = await browser.http.get(f"/upstream/{UPSTREAM}/callback",
                                         params={"state": state, "error": "access_denied"})
        assert refused.status_code == 303 and refused.headers["location"] == login
        shown = await browser.http.get(login)
        assert 'role="alert"' in shown.text
        # a code the provider never issued: refused by its token endpoint, not a 500
        started = await browser.http.get(button(shown.text, UPSTREAM))
        state = started.headers["location"].split("state=")[1].split("&")[0]
        forged = await browser.http.get(f"/upstream/{UPSTREAM}/callback",
                                        params={"state": state, "code": "forged-code"})
        assert forged.status_code == 303 and forged.headers["location"] == login
    finally:
        await browser.close()
    assert provider.issuer.startswith("http://127.0.0.1:")


async def test_a_binding_waits_for_the_browser_that_signed_in_upstream(live: LiveIdp) -> None:
    """Someone signs in upstream with their own account and sends the login page's link to a
    victim: the victim's password signs the victim in, and binds nothing."""
    victim = await new_person(live, prefix="vic")
    client = await plain_client(live)
    account = upstream_login()
    attacker = Browser.open(live)
    try:
        page = await upstream_authorize(attacker, client, account)
        assert 'id="upstream-bind"' in page.text
        link = page.url.path
    finally:
        await attacker.close()
    browser = Browser.open(live)
    try:
        shown = await browser.http.get(link)
        assert shown.status_code == 200 and 'id="upstream-bind"' not in shown.text
        done = await browser.submit(shown, {"username": victim.username,
                                            "password": victim.password}, person=victim)
        assert done.status_code == 302  # the victim's own sign-in goes on
    finally:
        await browser.close()
    assert await bindings_of(live, account) == []
