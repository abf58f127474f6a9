"""Device sign-in (RFC 8628) of an app that requires a second factor: the person confirming on
the phone passes the factor before the confirmation, and the device's tokens prove it."""

from __future__ import annotations

from idp.mfa.client_flag import set_require_mfa
from idp.mfa.policy import ACR_MFA
from tests.device.flow import device_client, poll, start
from tests.mfa.browser import Browser, form_field
from tests.mfa.helpers import app_code, enrolled_person, is_mfa_page
from tests.oauth.flow import verify_id_token
from tests.support.server import LiveIdp


async def test_device_of_an_mfa_app_needs_the_factor(live: LiveIdp) -> None:
    person, secret, _ = await enrolled_person(live)
    client = await device_client(live, name="教室大屏 Classroom display (test)")
    assert await set_require_mfa(live.services.db, client.client_id)
    started = await start(live, client)
    browser = Browser.open(live)
    try:
        form = await browser.http.get("/device")
        entered = await browser.http.post("/device", data={
            "csrf": form_field(form.text, "csrf"), "user_code": started["user_code"]})
        page = await browser.walk(entered, person)
        # the password alone is not enough: the factor comes before the confirmation
        assert is_mfa_page(page), page.text[:2000]
        assert not any(p.startswith("/consent/") for p in browser.pages)
        assert (await poll(live, client, started["device_code"])).json()["error"] == \
            "authorization_pending"
        done = await browser.submit(page, {"method": "totp",
                                           "code": app_code(secret, steps_ahead=1)})
        assert done.status_code == 200 and "outcome=approved" in str(done.url), done.text[:2000]
        assert any(p.startswith("/consent/") for p in browser.pages)
    finally:
        await browser.close()
    tokens = await poll(live, client, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    claims = await verify_id_token(live, tokens.json()["id_token"], client.client_id)
    assert (claims["acr"], claims["amr"]) == (ACR_MFA, ["pwd", "otp"])
