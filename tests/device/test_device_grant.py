"""RFC 8628 end to end, on both backend sets: the device authorization response, polling
(authorization_pending, slow_down with an interval that grows by 5 seconds, expired_token,
access_denied), one set of tokens per device code, the verification page that never approves
on arrival, client authentication and registration for the grant, the app's access rule, and
the audit trail."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator

import pytest
import segno
from sqlalchemy import select

from idp.admin.service_clients import set_access_rule
from idp.db.models import AuditEvent
from idp.protocols.oidc.device_codes import USER_CODE_ALPHABET, normalize_user_code
from idp.protocols.oidc.required_scopes import set_required_scopes
from idp.protocols.oidc.tokens import token_digest
from idp.sso.access import AccessRule
from tests.device.flow import (
    confirm,
    device_client,
    enter_code,
    error_of,
    poll,
    shown_code,
    start,
)
from tests.oauth.flow import Browser, form_field, register, verify_id_token
from tests.support.server import LiveIdp


@pytest.fixture
async def browser(live: LiveIdp) -> AsyncIterator[Browser]:
    opened = Browser.open(live)
    yield opened
    await opened.close()


async def test_discovery_advertises_the_device_endpoint_and_grant(live: LiveIdp) -> None:
    async with live.client() as http:
        metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["device_authorization_endpoint"] == f"{live.settings.issuer}/device_authorization"
    assert "urn:ietf:params:oauth:grant-type:device_code" in metadata["grant_types_supported"]


async def test_device_authorization_response(live: LiveIdp) -> None:
    client = await device_client(live)
    started = await start(live, client)
    issuer = live.settings.issuer
    assert set(started) == {"device_code", "user_code", "verification_uri",
                            "verification_uri_complete", "expires_in", "interval"}
    assert re.fullmatch(f"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}",
                        started["user_code"])
    assert started["verification_uri"] == f"{issuer}/device"
    assert started["verification_uri_complete"] == f"{issuer}/device?user_code={started['user_code']}"
    assert started["expires_in"] == live.settings.device.code_ttl == 600
    assert started["interval"] == live.settings.device.interval == 5
    assert len(started["device_code"]) >= 43
    # the Store keeps the device code's digest, never the code
    keys = await live.services.store.keys("device:")
    assert f"device:{token_digest(started['device_code'])}" in keys
    assert not any(started["device_code"] in key for key in keys)


async def test_full_flow_pending_slow_down_tokens_then_single_use(live: LiveIdp,
                                                                  browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client, scope="openid profile offline_access")
    device_code = started["device_code"]
    assert error_of(await poll(live, client, device_code)) == "authorization_pending"
    # polled again at once: too fast, and each further early poll adds 5 seconds more
    slow = await poll(live, client, device_code)
    assert error_of(slow) == "slow_down" and "10 seconds" in slow.json()["error_description"]
    slower = await poll(live, client, device_code)
    assert error_of(slower) == "slow_down" and "15 seconds" in slower.json()["error_description"]

    # the person types the code in lower case without the hyphen
    typed = started["user_code"].lower().replace("-", "")
    done = await confirm(browser, typed)
    assert done.status_code == 200 and "/device/done" in str(done.url)
    assert browser.pages == ["login", "device", "consent", "device"]

    answer = await poll(live, client, device_code)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert answer.headers["cache-control"] == "no-store"
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid profile offline_access"
    assert tokens["refresh_token"]
    claims = await verify_id_token(live, tokens["id_token"], client.client_id)
    assert claims["preferred_username"] == "student" and claims["amr"] == ["pwd"]
    async with live.client() as http:
        userinfo = await http.get("/userinfo", headers={
            "authorization": f"Bearer {tokens['access_token']}"})
        assert userinfo.status_code == 200 and userinfo.json()["sub"] == claims["sub"]
        refreshed = await http.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=client.basic)
        assert refreshed.status_code == 200, refreshed.text
    # one set of tokens per device code
    again = await poll(live, client, device_code)
    assert error_of(again) == "invalid_grant"


async def test_verification_uri_complete_fills_the_form_but_never_approves(
        live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client)
    arrived = await browser.http.get(started["verification_uri_complete"].removeprefix(
        live.settings.issuer))
    assert arrived.status_code == 200
    assert form_field(arrived.text, "user_code") == started["user_code"]
    assert error_of(await poll(live, client, started["device_code"])) == "authorization_pending"
    # signed in already (an SSO session in this phone's browser): still a confirmation page
    entered = await browser.http.post("/device", data={
        "csrf": form_field(arrived.text, "csrf"), "user_code": started["user_code"]})
    assert entered.status_code == 303
    shown = await browser.walk(entered, consent="deny")  # logs in, then refuses
    assert browser.pages[-2:] == ["consent", "device"]
    assert shown.status_code == 200 and "outcome=denied" in str(shown.url)

    second = await start(live, client)
    entered = await enter_code(browser, second["user_code"])
    assert entered.status_code == 303 and entered.headers["location"].startswith("/consent/")
    page = await browser.http.get(entered.headers["location"])
    assert shown_code(page.text) == second["user_code"]
    # the device is still waiting: only the click decides
    await asyncio.sleep(0)
    assert error_of(await poll(live, client, second["device_code"])) == "authorization_pending"


async def test_first_party_apps_are_confirmed_too(live: LiveIdp, browser: Browser) -> None:
    """skip_consent spares a campus app's users the consent page of the code flow; a device
    sign-in is still confirmed by a click (remote phishing, RFC 8628 §5.4)."""
    client = await device_client(live, skip_consent=True)
    started = await start(live, client)
    done = await confirm(browser, started["user_code"])
    assert "consent" in browser.pages and "outcome=approved" in str(done.url)


async def test_refused_is_access_denied_once(live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client)
    done = await confirm(browser, started["user_code"], decision="deny")
    assert done.status_code == 200 and "outcome=denied" in str(done.url)
    assert error_of(await poll(live, client, started["device_code"])) == "access_denied"
    assert error_of(await poll(live, client, started["device_code"])) == "invalid_grant"


async def test_expired_device_code(live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client)
    store = live.services.store
    key = f"device:{token_digest(started['device_code'])}"
    record = json.loads(await store.get(key) or "{}")
    record["expires_at"] = int(time.time()) - 1  # the authorization, aged in the Store
    await store.put(key, json.dumps(record), 60)
    assert error_of(await poll(live, client, started["device_code"])) == "expired_token"
    entered = await enter_code(browser, started["user_code"])
    assert entered.status_code == 400 and "device-code" not in entered.text
    assert "该代码无效或已过期" in entered.text or "not valid or has expired" in entered.text


async def test_code_entered_twice_is_decided_once(live: LiveIdp) -> None:
    """Two tabs (or a second click): the first decision counts, the second sees it is gone."""
    client = await device_client(live)
    started = await start(live, client)
    first, second = Browser.open(live), Browser.open(live)
    try:
        a = await enter_code(first, started["user_code"])
        b = await enter_code(second, started["user_code"])
        assert a.status_code == b.status_code == 303
        done = await first.walk(a)
        assert "outcome=approved" in str(done.url)
        late = await second.walk(b, consent="deny")
        assert late.status_code == 400
        assert "已过期或已被使用" in late.text or "already been used" in late.text, late.text
    finally:
        await first.close()
        await second.close()
    assert (await poll(live, client, started["device_code"])).status_code == 200


async def test_public_client_and_client_authentication(live: LiveIdp, browser: Browser) -> None:
    public = await device_client(live, public=True)
    started = await start(live, public)
    await confirm(browser, started["user_code"])
    answer = await poll(live, public, started["device_code"])
    assert answer.status_code == 200 and "access_token" in answer.json()

    confidential = await device_client(live)
    async with live.client() as http:
        wrong = await http.post("/device_authorization", data={"scope": "openid"},
                                auth=(confidential.client_id, "not-the-secret"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        # a confidential client must authenticate: its client_id alone is not enough
        bare = await http.post("/device_authorization", data={"client_id": confidential.client_id})
        assert bare.status_code == 401 and bare.json()["error"] == "invalid_client"
        unknown = await http.post("/device_authorization", data={"client_id": "nobody"})
        # as at the token endpoint: 401 only where the client used the Authorization header
        assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client"
        twice = await http.post(
            "/device_authorization",
            content=f"client_id={public.client_id}&scope=openid&scope=profile",
            headers={"content-type": "application/x-www-form-urlencoded"})
        assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"


async def test_only_clients_registered_for_the_grant(live: LiveIdp) -> None:
    code_client = await register(live)  # authorization_code + refresh_token
    async with live.client() as http:
        refused = await http.post("/device_authorization", data={"scope": "openid"},
                                  auth=code_client.basic)
        assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
        polled = await http.post("/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"},
            auth=code_client.basic)
        assert polled.status_code == 400 and polled.json()["error"] == "unauthorized_client"


async def test_another_clients_device_code_is_not_found_nor_spent(
        live: LiveIdp, browser: Browser) -> None:
    owner, thief = await device_client(live), await device_client(live)
    started = await start(live, owner)
    await confirm(browser, started["user_code"])
    assert error_of(await poll(live, thief, started["device_code"])) == "invalid_grant"
    assert (await poll(live, owner, started["device_code"])).status_code == 200


async def test_scopes_are_narrowed_to_the_clients(live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live, scopes=["openid", "profile"])
    started = await start(live, client, scope="openid profile email")
    await confirm(browser, started["user_code"])
    answer = await poll(live, client, started["device_code"])
    assert answer.json()["scope"] == "openid profile"


async def test_outside_the_apps_rule_the_device_hears_access_denied(
        live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    await set_access_rule(live.services.db, client.client_id,
                          AccessRule(groups=("no-such-group-for-devices",)))
    started = await start(live, client)
    entered = await enter_code(browser, started["user_code"])
    refused = await browser.walk(entered)
    assert refused.status_code == 403
    assert error_of(await poll(live, client, started["device_code"])) == "access_denied"


async def test_wrong_codes_are_limited_per_address(live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client)
    limit = live.settings.device.entry_failures
    for _ in range(limit):
        wrong = await enter_code(browser, "BBBB-BBBB")
        assert wrong.status_code == 400
    # a malformed entry is a typo, not a guess: it is answered, not counted
    assert (await enter_code(browser, "AEIO-U123")).status_code in (400, 429)
    refused = await enter_code(browser, started["user_code"])
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # another address is not affected
    other = Browser.open(live)
    try:
        assert (await enter_code(other, started["user_code"])).status_code == 303
    finally:
        await other.close()


async def test_guesses_sent_at_once_are_counted_before_they_are_looked_up(live: LiveIdp) -> None:
    client = await device_client(live)
    started = await start(live, client)
    guesser = Browser.open(live)
    try:
        page = await guesser.http.get("/device")
        token = form_field(page.text, "csrf")
        limit = live.settings.device.entry_failures
        answers = await asyncio.gather(*(guesser.http.post("/device", data={
            "csrf": token, "user_code": f"BBBB-BB{a}{b}"})
            for a in "CDFGH" for b in "CDFGH"))
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(400) <= limit and statuses.count(429) >= 25 - limit, statuses
        assert (await enter_code(guesser, started["user_code"])).status_code == 429
    finally:
        await guesser.close()


async def test_ipv6_addresses_of_one_64_share_a_count(live: LiveIdp) -> None:
    client = await device_client(live)
    started = await start(live, client)
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    for n in range(live.settings.device.entry_failures):
        guesser = Browser(live, live.client(headers={"x-forwarded-for": f"{prefix}::{n + 1:x}"}))
        try:
            assert (await enter_code(guesser, "BBBB-BBBB")).status_code == 400
        finally:
            await guesser.close()
    last = Browser(live, live.client(headers={"x-forwarded-for": f"{prefix}::ffff"}))
    try:
        assert (await enter_code(last, started["user_code"])).status_code == 429
    finally:
        await last.close()


async def test_entry_form_needs_its_csrf_token(live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client)
    await browser.http.get("/device")
    forged = await browser.http.post("/device", data={"csrf": "x" * 43,
                                                      "user_code": started["user_code"]})
    assert forged.status_code == 403


async def test_qr_code_of_the_complete_uri(live: LiveIdp) -> None:
    async with live.client() as http:
        svg = await http.get("/device/qr.svg", params={"user_code": "bcdf ghjk"})
        bad = await http.get("/device/qr.svg", params={"user_code": "<script>"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg") and "<script" not in svg.text
    # the symbol of the page with the code filled in, normalized
    complete = f"{live.settings.issuer}/device?user_code=BCDF-GHJK"
    assert svg.text == segno.make(complete, error="m", micro=False).svg_inline(scale=6, border=2)
    assert bad.status_code == 400


async def test_audited(live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client)
    await enter_code(browser, "ZZZZ-ZZZZ")
    await confirm(browser, started["user_code"])
    assert (await poll(live, client, started["device_code"])).status_code == 200
    wanted = [("device", "authorization_issued"), ("device", "code_entered"),
              ("device", "approved"), ("token", "success")]
    seen: list[tuple[str, str]] = []
    for _ in range(100):
        async with live.services.db() as db:
            rows = list(await db.scalars(select(AuditEvent).where(
                AuditEvent.client_id == client.client_id).order_by(AuditEvent.id)))
        seen = [(row.kind, row.outcome) for row in rows]
        if all(item in seen for item in wanted):
            break
        await asyncio.sleep(0.05)
    assert all(item in seen for item in wanted), seen
    approved = next(row for row in rows if row.outcome == "approved")
    assert approved.actor == "student" and approved.detail["device_ip"] == "127.0.0.1"


def test_user_code_normalization() -> None:
    assert normalize_user_code("bcdf-ghjk") == "BCDFGHJK"
    assert normalize_user_code(" BCDF GHJK ") == "BCDFGHJK"
    assert normalize_user_code("BCDFGHJ") is None
    assert normalize_user_code("BCDF-GHJA") is None  # vowels are never in a code
    assert normalize_user_code("BCDF-GHJ0") is None
    # a Chinese input method's full-width letters and hyphen
    assert normalize_user_code("ＢＣＤＦ－ＧＨＪＫ") == "BCDFGHJK"
    assert normalize_user_code("ｂｃｄｆ　ｇｈｊｋ") == "BCDFGHJK"
    assert normalize_user_code("ＢＣＤＦ－ＧＨＪ") is None
    assert normalize_user_code(None) is None


async def test_optional_scopes_can_be_unticked_required_ones_cannot(
        live: LiveIdp, browser: Browser) -> None:
    """Consent per scope on the device confirmation: what the person unticks the device does not
    get; a scope the app's registration marks required stays, and a form without it is refused."""
    client = await device_client(live)
    assert await set_required_scopes(live.services.db, client.client_id, ["profile"])
    started = await start(live, client, scope="openid profile email")
    entered = await enter_code(browser, started["user_code"])
    login = entered.headers["location"]
    form = await browser.http.get(login)
    signed_in = await browser.http.post(login, data={
        "csrf": form_field(form.text, "csrf"), "username": "student", "password": "student123"})
    resumed = await browser.http.get(signed_in.headers["location"])
    assert resumed.headers["location"].startswith("/consent/")
    page = await browser.http.get(resumed.headers["location"])
    assert page.status_code == 200 and shown_code(page.text) == started["user_code"]
    assert 'data-scope="profile" data-required="1"' in page.text
    action = str(page.url.path)
    token = form_field(page.text, "csrf")
    refused = await browser.http.post(action, data={
        "csrf": token, "choice": "scopes", "scope": ["openid", "email"], "decision": "allow"})
    assert refused.status_code == 400
    answered = await browser.http.post(action, data={
        "csrf": token, "choice": "scopes", "scope": ["openid", "profile"], "decision": "allow"})
    assert answered.status_code == 303, answered.text
    done = await browser.http.get(answered.headers["location"])
    assert "outcome=approved" in done.headers["location"]
    tokens = await poll(live, client, started["device_code"])
    assert tokens.status_code == 200 and tokens.json()["scope"] == "openid profile"
