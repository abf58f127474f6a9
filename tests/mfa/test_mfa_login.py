"""A client that requires a second factor gets acr/amr that prove it: enrolment on the spot,
TOTP at later logins, wrong codes refused and throttled, recovery codes single use, group and
acr_values requirements. Real HTTP; embedded and production (slapd, Redis, PostgreSQL)."""

from __future__ import annotations

import json

from idp.mfa.policy import ACR_FED, ACR_MFA, ACR_PWD
from tests.mfa.browser import Browser, form_field, id_token_claims
from tests.mfa.helpers import (
    app_code,
    enrol_on_the_spot,
    enrolled_person,
    is_mfa_page,
    mfa_client,
    plain_client,
)
from tests.mfa.people import new_person
from tests.mfa.server import REQUIRED_GROUP
from tests.support.server import LiveIdp


async def test_a_client_requiring_mfa_gets_acr_and_amr_that_prove_it(live: LiveIdp) -> None:
    person = await new_person(live)
    client = await mfa_client(live)
    browser = Browser.open(live)
    try:
        page = await browser.authorize(client, person)
        # no factor yet: the password alone does not sign in; enrolment comes first
        assert is_mfa_page(page)
        assert live.settings.session.cookie_name not in browser.http.cookies
        secret, codes, done = await enrol_on_the_spot(browser, page)
        assert len(codes) == 10 and len(set(codes)) == 10
        claims = await id_token_claims(live, client, done)
        assert claims["acr"] == ACR_MFA
        assert claims["amr"] == ["pwd", "otp"]
        sid = browser.http.cookies[live.settings.session.cookie_name]
        session = await live.services.sessions.get(sid)
        assert session is not None and session.acr == ACR_MFA and session.amr == ["pwd", "otp"]
    finally:
        await browser.close()

    # the next login asks for the app's code (not an enrolment), and proves it again
    later = Browser.open(live)
    try:
        page = await later.authorize(client, person)
        assert is_mfa_page(page) and 'value="totp"' in page.text and 'value="enrol"' not in page.text
        done = await later.submit(page, {"method": "totp", "code": app_code(secret, steps_ahead=1)})
        claims = await id_token_claims(live, client, done)
        assert (claims["acr"], claims["amr"]) == (ACR_MFA, ["pwd", "otp"])
    finally:
        await later.close()


async def test_wrong_codes_are_refused_then_throttled(live: LiveIdp) -> None:
    person, secret, _ = await enrolled_person(live)
    client = await plain_client(live)  # an enrolled person is asked everywhere
    browser = Browser.open(live)
    try:
        page = await browser.authorize(client, person)
        assert is_mfa_page(page)
        for wrong in ("000000", "123456", "999999"):
            if wrong == app_code(secret) or wrong == app_code(secret, steps_ahead=1):
                continue
            page = await browser.submit(page, {"method": "totp", "code": wrong})
            assert page.status_code == 401, page.text[:1000]
            assert 'role="alert"' in page.text
        assert live.settings.session.cookie_name not in browser.http.cookies
        # max_failures (3) reached: even the right code waits now
        page = await browser.submit(page, {"method": "totp",
                                           "code": app_code(secret, steps_ahead=1)})
        assert page.status_code == 429
        assert live.settings.session.cookie_name not in browser.http.cookies
    finally:
        await browser.close()
    # the limit is the person's, not the browser's: a fresh login is refused too
    other = Browser.open(live)
    try:
        page = await other.authorize(client, person)
        page = await other.submit(page, {"method": "totp", "code": app_code(secret, steps_ahead=1)})
        assert page.status_code == 429
    finally:
        await other.close()


async def test_a_recovery_code_works_once(live: LiveIdp) -> None:
    person, _, codes = await enrolled_person(live)
    client = await mfa_client(live)
    for attempt, (code, expected) in enumerate([(codes[0], 302), (codes[0], 401),
                                                (codes[1].upper().replace("-", " "), 302)]):
        browser = Browser.open(live)
        try:
            page = await browser.authorize(client, person)
            assert is_mfa_page(page), attempt
            answer = await browser.submit(page, {"method": "recovery", "code": code})
            assert answer.status_code == expected, (attempt, answer.text[:1000])
            if expected == 302:
                claims = await id_token_claims(live, client, answer)
                assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp"]
        finally:
            await browser.close()


async def test_group_members_must_use_a_second_factor(live: LiveIdp) -> None:
    member = await new_person(live, groups=(REQUIRED_GROUP,))
    outsider = await new_person(live)
    client = await plain_client(live)
    browser = Browser.open(live)
    try:
        page = await browser.authorize(client, member)
        assert is_mfa_page(page) and 'value="enrol"' in page.text
    finally:
        await browser.close()
    browser = Browser.open(live)
    try:
        claims = await id_token_claims(live, client, await browser.authorize(client, outsider))
        assert claims["acr"] == ACR_PWD and claims["amr"] == ["pwd"]
    finally:
        await browser.close()


async def test_acr_values_asking_for_mfa_force_the_second_factor(live: LiveIdp) -> None:
    person = await new_person(live)
    client = await plain_client(live)
    browser = Browser.open(live)
    try:
        # pwd is acceptable to this request: no second factor
        response = await browser.authorize(client, person, acr_values=f"{ACR_MFA} {ACR_PWD}")
        assert (await id_token_claims(live, client, response))["acr"] == ACR_PWD
        # only mfa is acceptable: the same signed-in browser is stepped up
        page = await browser.authorize(client, person, acr_values=ACR_MFA)
        assert is_mfa_page(page)
        assert not any(p.startswith("/login/") for p in browser.pages), browser.pages
        _, _, done = await enrol_on_the_spot(browser, page)
        assert (await id_token_claims(live, client, done))["acr"] == ACR_MFA
    finally:
        await browser.close()
    # an essential acr claim (OIDC Core §5.5.1.1) asks the same
    fresh = await new_person(live)
    browser = Browser.open(live)
    try:
        claims_param = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_MFA]}}})
        page = await browser.authorize(client, fresh, claims=claims_param)
        assert is_mfa_page(page)
    finally:
        await browser.close()


async def test_unknown_acr_values_are_ignored_and_discovery_lists_ours(live: LiveIdp) -> None:
    person = await new_person(live)
    client = await plain_client(live)
    browser = Browser.open(live)
    try:
        response = await browser.authorize(client, person, acr_values="urn:mace:silver")
        assert (await id_token_claims(live, client, response))["acr"] == ACR_PWD
    finally:
        await browser.close()
    async with live.client() as http:
        metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["acr_values_supported"] == [ACR_PWD, ACR_MFA, ACR_FED]


async def test_the_second_factor_page_belongs_to_the_browser_that_gave_the_password(
        live: LiveIdp) -> None:
    person, secret, _ = await enrolled_person(live)
    client = await plain_client(live)
    browser, thief = Browser.open(live), Browser.open(live)
    try:
        page = await browser.authorize(client, person)
        assert is_mfa_page(page)
        stolen = await thief.http.get(page.url.path)  # the URL alone is not enough
        assert stolen.status_code == 400
        answer = await thief.http.post(page.url.path, data={
            "csrf": form_field(page.text, "csrf"), "method": "totp",
            "code": app_code(secret, steps_ahead=1)})
        assert answer.status_code in (400, 403)
        assert live.settings.session.cookie_name not in thief.http.cookies
    finally:
        await browser.close()
        await thief.close()
