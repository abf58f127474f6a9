"""Step-up: a session that proved only a password meets a client that requires a second factor;
the person gets the second-factor page, not a new password login, and the session's acr/amr
are raised."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pyotp

from idp.mfa.policy import ACR_MFA, ACR_PWD
from tests.mfa.browser import Browser, attribute, form_field, id_token_claims
from tests.mfa.helpers import app_code, is_mfa_page, mfa_client, plain_client
from tests.mfa.people import new_person
from tests.oauth.flow import REDIRECT
from tests.support.server import LiveIdp


async def test_a_password_session_is_stepped_up_without_a_new_password(live: LiveIdp) -> None:
    person = await new_person(live)
    plain, finance = await plain_client(live), await mfa_client(live)
    browser = Browser.open(live)
    cookie = live.settings.session.cookie_name
    try:
        first = await browser.authorize(plain, person)
        claims = await id_token_claims(live, plain, first)
        assert (claims["acr"], claims["amr"]) == (ACR_PWD, ["pwd"])
        # the person adds an authenticator app on the account page (the session stays pwd)
        page = await browser.http.get("/account/mfa/totp")
        secret = attribute(page.text, "data-secret")
        added = await browser.http.post("/account/mfa/totp", data={
            "csrf": form_field(page.text, "csrf"), "code": pyotp.TOTP(secret).now()})
        assert added.status_code == 200  # the recovery codes, shown once
        old_sid = browser.http.cookies[cookie]
        assert (await live.services.sessions.get(old_sid)).acr is None  # type: ignore[union-attr]

        # now the finance app: straight to the second factor, no password page on the way
        page = await browser.authorize(finance, None)
        assert is_mfa_page(page), page.text[:1000]
        assert not any(p.startswith("/login/") for p in browser.pages), browser.pages
        assert 'name="password"' not in page.text and 'value="totp"' in page.text
        done = await browser.submit(page, {"method": "totp", "code": app_code(secret, steps_ahead=1)})
        claims = await id_token_claims(live, finance, done)
        assert (claims["acr"], claims["amr"]) == (ACR_MFA, ["pwd", "otp"])
        # a fresh session id for the raised session, still signed into the first app
        new_sid = browser.http.cookies[cookie]
        assert new_sid != old_sid and await live.services.sessions.get(old_sid) is None
        raised = await live.services.sessions.get(new_sid)
        assert raised is not None and raised.acr == ACR_MFA
        assert plain.client_id in await live.services.sessions.clients(new_sid)
        # and the first app now gets the raised acr too, without any page
        again = await browser.authorize(plain, None)
        assert (await id_token_claims(live, plain, again))["acr"] == ACR_MFA
    finally:
        await browser.close()


async def test_step_up_with_prompt_none_is_login_required(live: LiveIdp) -> None:
    person = await new_person(live)
    plain, finance = await plain_client(live), await mfa_client(live)
    browser = Browser.open(live)
    try:
        assert (await browser.authorize(plain, person)).status_code == 302
        response = await browser.authorize(finance, None, prompt="none")
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith(REDIRECT)
        assert parse_qs(urlsplit(location).query)["error"] == ["login_required"]
    finally:
        await browser.close()


async def test_step_up_without_a_factor_enrols_on_the_spot(live: LiveIdp) -> None:
    from tests.mfa.helpers import enrol_on_the_spot

    person = await new_person(live)
    plain, finance = await plain_client(live), await mfa_client(live)
    browser = Browser.open(live)
    try:
        assert (await browser.authorize(plain, person)).status_code == 302
        page = await browser.authorize(finance, None)
        assert is_mfa_page(page) and not any(p.startswith("/login/") for p in browser.pages)
        _, codes, done = await enrol_on_the_spot(browser, page)
        assert len(codes) == 10
        assert (await id_token_claims(live, finance, done))["amr"] == ["pwd", "otp"]
    finally:
        await browser.close()


async def test_a_step_up_whose_session_ended_falls_back_to_the_password(live: LiveIdp) -> None:
    person = await new_person(live)
    plain, finance = await plain_client(live), await mfa_client(live)
    browser = Browser.open(live)
    try:
        assert (await browser.authorize(plain, person)).status_code == 302
        sid = browser.http.cookies[live.settings.session.cookie_name]
        response = await browser.http.get("/authorize", params={
            "response_type": "code", "client_id": finance.client_id, "redirect_uri": REDIRECT,
            "scope": "openid", "state": "s"})
        assert response.headers["location"].startswith("/mfa/")
        await live.services.sessions.end(sid)  # signed out elsewhere meanwhile
        page = await browser.http.get(response.headers["location"])
        assert page.status_code == 303 and page.headers["location"].startswith("/login/")
        # the password, then the second factor (enrolment: the person has none yet)
        after = await browser.walk(page, person)
        assert is_mfa_page(after) and 'value="enrol"' in after.text
    finally:
        await browser.close()
