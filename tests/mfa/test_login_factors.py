"""What a password login reads to decide on a second factor (idp/mfa/factors.py): one query for
the client's policy and whether the person enrolled a factor, and the factor counts the
second-factor page shows. Against the database on SQLite and PostgreSQL, and through a login."""

from __future__ import annotations

import json
import secrets

from idp.db.mfa_models import PasskeyCredential
from idp.mfa import recovery, totp
from idp.mfa.factors import Factors, factors_of, login_facts
from tests.mfa.authenticator import SoftAuthenticator
from tests.mfa.browser import Browser, attribute, id_token_claims
from tests.mfa.helpers import is_mfa_page, mfa_client, plain_client
from tests.mfa.people import new_person
from tests.mfa.test_passkeys import origin_of, register_passkey, signed_in
from tests.support.server import LiveIdp


def fresh_subject() -> str:
    return "factors-" + secrets.token_hex(6)


async def add_passkey(live: LiveIdp, subject: str) -> None:
    async with live.services.db() as db, db.begin():
        db.add(PasskeyCredential(subject=subject, credential_id=secrets.token_urlsafe(32),
                                 public_key="pQECAyYgASFYIA", label="key"))


async def test_login_facts_read_the_client_policy_and_the_enrolled_factors(
        live: LiveIdp) -> None:
    plain, finance = await plain_client(live), await mfa_client(live)
    nobody, with_app, with_key, codes_only = (fresh_subject() for _ in range(4))

    extra, enrolled = await login_facts(live.services.engine, plain.client_id, nobody)
    assert not (extra or {}).get("require_mfa") and enrolled is False
    extra, enrolled = await login_facts(live.services.engine, finance.client_id, nobody)
    assert extra is not None and extra["require_mfa"] is True and enrolled is False
    assert await login_facts(live.services.engine, "no-such-client", nobody) == (None, False)
    assert await factors_of(live.services.engine, nobody) == Factors(False, 0, 0)

    await totp.save(live.services.db, live.settings, with_app, totp.new_secret(), 1)
    await add_passkey(live, with_key)
    await add_passkey(live, with_key)
    await recovery.regenerate(live.services.db, codes_only)
    assert (await login_facts(live.services.engine, plain.client_id, with_app))[1] is True
    assert (await login_facts(live.services.engine, plain.client_id, with_key))[1] is True
    # recovery codes back up a factor; alone they are not one (Factors.any)
    assert (await login_facts(live.services.engine, plain.client_id, codes_only))[1] is False
    assert await factors_of(live.services.engine, with_app) == Factors(True, 0, 0)
    assert await factors_of(live.services.engine, with_key) == Factors(False, 2, 0)
    assert await factors_of(live.services.engine, codes_only) == Factors(False, 0, recovery.COUNT)
    # another person's factors never count
    assert await factors_of(live.services.engine, nobody) == Factors(False, 0, 0)
    assert (await login_facts(live.services.engine, plain.client_id, nobody))[1] is False


async def test_a_spent_recovery_code_is_no_longer_counted(live: LiveIdp) -> None:
    subject = fresh_subject()
    codes = await recovery.regenerate(live.services.db, subject)
    assert await recovery.spend(live.services.db, subject, codes[0])
    assert (await factors_of(live.services.engine, subject)).recovery_codes == recovery.COUNT - 1


async def test_a_person_with_only_a_passkey_is_asked_for_it_everywhere(live: LiveIdp) -> None:
    person = await new_person(live)
    authenticator = SoftAuthenticator(origin_of(live))
    browser = await signed_in(live, person)  # no factor yet: the password alone signs in
    try:
        assert (await register_passkey(browser, authenticator)).status_code == 200
    finally:
        await browser.close()
    client = await plain_client(live)  # requires nothing, but the person has a factor now
    later = Browser.open(live)
    try:
        page = await later.authorize(client, person)
        assert is_mfa_page(page) and 'data-webauthn="get"' in page.text
        assert 'value="totp"' not in page.text  # only what the person has is offered
        options = json.loads(attribute(page.text, "data-options"))
        answer = await later.submit(page, {"method": "passkey",
                                           "credential": authenticator.get(options)})
        claims = await id_token_claims(live, client, answer)
        assert claims["amr"] == ["pwd", "hwk"]
    finally:
        await later.close()
