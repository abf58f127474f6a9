"""QR sign-in for what apps require: a second factor where the app requires one (proven on the
phone, through the second-factor page), and CAS services as well as OIDC clients (the sign-in
continues through the protocol-neutral core)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from idp.db.models import AuditEvent
from idp.mfa.policy import ACR_MFA
from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import ticket_of, validate
from tests.mfa.browser import form_field, id_token_claims
from tests.mfa.helpers import app_code, enrol_on_the_spot, enrolled_person, mfa_client, plain_client
from tests.mfa.people import new_person
from tests.qr.devices import (
    PC_AGENT,
    answer,
    device,
    pc_at_login,
    qr_tab,
    signed_in_phone,
    start_poll,
)
from tests.support.server import LiveIdp


async def test_an_app_that_requires_a_second_factor_has_the_phone_prove_one(
        live: LiveIdp) -> None:
    finance, plain = await mfa_client(live), await plain_client(live)
    person = await new_person(live)
    phone = await signed_in_phone(live, plain, person)  # the password only: no factor yet
    pc = device(live, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, finance))
    page = await phone.http.get(tab.code_path)
    watching = start_poll(pc, tab, "scanned")
    asked = await answer(phone, tab, page, "confirm")
    assert asked.status_code == 303 and asked.headers["location"].startswith("/mfa/"), \
        asked.text[:1000]
    factor_page = await phone.http.get(asked.headers["location"])
    await asyncio.sleep(0.3)
    assert not watching.done(), "confirmed before the second factor"
    # no factor enrolled: the second-factor page enrols one on the spot, then confirms
    _, _, done = await enrol_on_the_spot(phone, factor_page)
    assert done.status_code == 200 and 'data-state="qr_done_confirmed"' in done.text, \
        done.text[:2000]
    assert (await asyncio.wait_for(watching, 3))["state"] == "confirmed"
    final = await pc.walk(await pc.http.post(tab.redeem, data={"csrf": tab.csrf}))
    claims = await id_token_claims(live, finance, final)
    assert claims["acr"] == ACR_MFA and {"otp", "mca"} <= set(claims["amr"])
    async with live.services.db() as db:
        outcomes = list((await db.execute(select(AuditEvent.outcome).where(
            AuditEvent.kind == "qr", AuditEvent.client_id == finance.client_id)
            .order_by(AuditEvent.id))).scalars())
    assert outcomes[-3:] == ["factor_asked", "confirmed", "signed_in"]
    await pc.close()
    await phone.close()


async def test_a_factor_just_proven_on_the_phone_is_enough(live: LiveIdp) -> None:
    finance, plain = await mfa_client(live), await plain_client(live)
    person, secret, _ = await enrolled_person(live)
    phone = device(live, "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36")
    factor_page = await phone.authorize(plain, person)
    assert factor_page.url.path.startswith("/mfa/")
    signed_in = await phone.submit(factor_page, {"method": "totp",
                                                 "code": app_code(secret, steps_ahead=1)})
    assert signed_in.status_code == 302, signed_in.text[:1000]
    pc = device(live, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, finance))
    page = await phone.http.get(tab.code_path)
    assert 'id="qr-device">Chrome · Windows<' in page.text
    done = await answer(phone, tab, page, "confirm")
    assert done.status_code == 200 and 'data-state="qr_done_confirmed"' in done.text
    final = await pc.walk(await pc.http.post(tab.redeem, data={"csrf": tab.csrf}))
    assert (await id_token_claims(live, finance, final))["acr"] == ACR_MFA
    await pc.close()
    await phone.close()


async def test_a_cas_service_sign_in_finishes_by_scanning(live: LiveIdp) -> None:
    service = service_url()
    await register_cas(live, service)
    person = await new_person(live)
    phone = await signed_in_phone(live, await plain_client(live), person)
    pc = device(live, PC_AGENT)
    started = await pc.http.get("/cas/login", params={"service": service})
    assert started.status_code in (302, 303) and started.headers["location"].startswith("/login/")
    tab = await qr_tab(pc, started.headers["location"])
    page = await phone.http.get(tab.code_path)
    assert "教务系统 Academic Affairs" in page.text
    await phone.http.post(tab.code_path, data={"csrf": form_field(page.text, "csrf"),
                                               "action": "confirm"})
    redeemed = await pc.http.post(tab.redeem, data={"csrf": tab.csrf})
    assert redeemed.status_code == 303 and redeemed.headers["location"].startswith("/cas/")
    final = await pc.http.get(redeemed.headers["location"])
    ticket = ticket_of(final, service)
    validated = await validate(pc, "serviceValidate", service, ticket)  # type: ignore[arg-type]
    assert f"<cas:user>{person.username}</cas:user>" in validated.text, validated.text
    await pc.close()
    await phone.close()
