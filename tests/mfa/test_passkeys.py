"""WebAuthn / passkeys with a software authenticator (real P-256 keys and signatures): register
from the account page, then sign in to a client that requires a second factor with it."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from idp.db.mfa_models import PasskeyCredential
from idp.mfa.policy import ACR_MFA
from tests.mfa.authenticator import SoftAuthenticator
from tests.mfa.browser import Browser, attribute, form_field, id_token_claims
from tests.mfa.helpers import (
    asked_again,
    confirm,
    is_mfa_page,
    mfa_client,
    plain_client,
    recovery_codes,
)
from tests.mfa.people import Someone, new_person
from tests.support.server import LiveIdp


def origin_of(live: LiveIdp) -> str:
    return live.settings.issuer  # the issuer is scheme://host:port, the WebAuthn origin


async def signed_in(live: LiveIdp, person: Someone) -> Browser:
    """A browser with a password-only session (signed into an ordinary app)."""
    browser = Browser.open(live)
    response = await browser.authorize(await plain_client(live), person)
    assert response.status_code == 302, response.text[:1000]
    return browser


async def register_passkey(browser: Browser, authenticator: SoftAuthenticator,
                           label: str = "my phone") -> httpx.Response:
    page = await browser.http.get("/account/mfa/passkey")
    assert page.status_code == 200, page.text[:1000]
    options = json.loads(attribute(page.text, "data-options"))
    assert options["rp"]["id"] == "127.0.0.1"
    credential = authenticator.create(options)
    return await browser.http.post("/account/mfa/passkey", data={
        "csrf": form_field(page.text, "csrf"), "credential": credential, "label": label})


async def test_register_a_passkey_and_sign_in_with_it(live: LiveIdp) -> None:
    person = await new_person(live)
    authenticator = SoftAuthenticator(origin_of(live))
    browser = await signed_in(live, person)
    try:
        shown = await register_passkey(browser, authenticator)
        # the first factor comes with recovery codes
        assert shown.status_code == 200 and len(recovery_codes(shown.text)) == 10
        account = await browser.http.get("/account")
        assert "my phone" in account.text
    finally:
        await browser.close()
    found = await live.services.directory.find(person.username)
    assert found is not None
    async with live.services.db() as db:
        labels = list(await db.scalars(select(PasskeyCredential.label).where(
            PasskeyCredential.subject == found.subject)))
    assert labels == ["my phone"]  # the public key is kept, under the name the person gave

    client = await mfa_client(live)
    for _ in range(2):  # twice: the signature counter moves on
        browser = Browser.open(live)
        try:
            page = await browser.authorize(client, person)
            assert is_mfa_page(page) and 'data-webauthn="get"' in page.text
            options = json.loads(attribute(page.text, "data-options"))
            answer = await browser.submit(page, {"method": "passkey",
                                                 "credential": authenticator.get(options)})
            claims = await id_token_claims(live, client, answer)
            assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "hwk"]
        finally:
            await browser.close()


async def test_a_forged_or_replayed_assertion_is_refused(live: LiveIdp) -> None:
    person = await new_person(live)
    authenticator = SoftAuthenticator(origin_of(live))
    browser = await signed_in(live, person)
    try:
        assert (await register_passkey(browser, authenticator)).status_code == 200
    finally:
        await browser.close()
    client = await mfa_client(live)
    browser = Browser.open(live)
    try:
        page = await browser.authorize(client, person)
        options = json.loads(attribute(page.text, "data-options"))
        # signed for a phishing site's origin: refused
        phished = authenticator.get(options, origin="https://idp.example.evil")
        page = await browser.submit(page, {"method": "passkey", "credential": phished})
        assert page.status_code == 401
        # another key claiming the same credential id: the signature does not verify
        options = json.loads(attribute(page.text, "data-options"))
        impostor = SoftAuthenticator(origin_of(live))
        impostor.credential_id, impostor.rp_id = authenticator.credential_id, authenticator.rp_id
        page = await browser.submit(page, {"method": "passkey",
                                           "credential": impostor.get(options)})
        assert page.status_code == 401
        # the real one, then the same answer again (its challenge was used up)
        options = json.loads(attribute(page.text, "data-options"))
        genuine = authenticator.get(options)
        csrf = form_field(page.text, "csrf")
        answer = await browser.submit(page, {"method": "passkey", "credential": genuine})
        assert answer.status_code == 302
        replay = await browser.http.post(page.url.path, data={
            "csrf": csrf, "method": "passkey", "credential": genuine})
        assert replay.status_code in (400, 401)
        # garbage is a clear refusal, not a crash
        again = Browser.open(live)
        try:
            page = await again.authorize(client, person)
            for junk in ("{}", "not json", '{"id": 1, "response": []}', "x" * 70000):
                page = await again.submit(page, {"method": "passkey", "credential": junk})
                # an oversized answer is refused by the request size limit before it is read
                assert page.status_code in ((413,) if len(junk) > 65536 else (401, 429)), page.text[:500]
        finally:
            await again.close()
    finally:
        await browser.close()


async def test_a_passkey_can_be_removed(live: LiveIdp) -> None:
    person = await new_person(live)
    authenticator = SoftAuthenticator(origin_of(live))
    browser = await signed_in(live, person)
    try:
        assert (await register_passkey(browser, authenticator, "yubikey")).status_code == 200
        account = await browser.http.get("/account")
        key_id = attribute(account.text, "data-passkey")
        # this session proved only the password: the key itself must confirm the removal
        refused = await browser.http.post("/account/mfa/passkey/remove", data={
            "csrf": form_field(account.text, "csrf"), "id": key_id})
        assert asked_again(refused)
        assert "yubikey" in (await browser.http.get("/account")).text

        def sign(page: str) -> dict[str, str]:
            options = json.loads(attribute(page, "data-options"))
            return {"method": "passkey", "credential": authenticator.get(options)}

        back = await confirm(browser, refused, sign)
        account = await browser.http.get(back.headers["location"])
        removed = await browser.http.post("/account/mfa/passkey/remove", data={
            "csrf": form_field(account.text, "csrf"), "id": key_id})
        assert removed.status_code == 303
        assert "yubikey" not in (await browser.http.get("/account")).text
    finally:
        await browser.close()
