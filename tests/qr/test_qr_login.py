"""QR sign-in end to end over real HTTP, on both deployments: a PC's login page shows a code, a
signed-in phone opens it, sees which device asks, and confirms or refuses; the PC's long poll
hears of it at once and the PC redeems the confirmation, once, and only the PC that showed it."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from sqlalchemy import select

from idp.db.models import AuditEvent
from tests.mfa.browser import form_field, id_token_claims
from tests.mfa.helpers import plain_client
from tests.mfa.people import new_person
from tests.oauth.flow import REDIRECT
from tests.qr.devices import (
    PC_AGENT,
    PHONE_AGENT,
    answer,
    device,
    pc_at_login,
    poll,
    qr_tab,
    signed_in_phone,
    start_poll,
)
from tests.support.server import LiveIdp, start_idp


async def qr_events(live: LiveIdp, client_id: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        rows = await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "qr", AuditEvent.client_id == client_id).order_by(AuditEvent.id))
        return list(rows.scalars())


async def test_phone_confirms_and_the_pc_is_signed_in(live: LiveIdp) -> None:
    client, person = await plain_client(live), await new_person(live)
    phone = await signed_in_phone(live, client, person)
    pc = device(live, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, client))
    assert tab.url.startswith(f"{live.settings.issuer}/qr/")
    assert 'id="qr-image" src="data:image/svg+xml' in tab.page.text  # drawn by the server

    watching = start_poll(pc, tab, "waiting")
    await asyncio.sleep(0.3)
    assert not watching.done(), "the long poll answered before anything happened"
    page = await phone.http.get(tab.code_path)
    assert page.status_code == 200, page.text[:2000]
    # which device, from where, when, for which app, as whom
    assert 'id="qr-device">Chrome · Windows<' in page.text
    assert f'id="qr-ip">{pc.ip}<' in page.text  # type: ignore[attr-defined]
    assert 'id="qr-when">刚刚<' in page.text
    assert client.row.name in page.text and person.username in page.text
    assert (await asyncio.wait_for(watching, 3))["state"] == "scanned"

    watching = start_poll(pc, tab, "scanned")
    await asyncio.sleep(0.3)
    confirmed_at = time.monotonic()
    done = await answer(phone, tab, page, "confirm")
    assert done.status_code == 200 and 'data-state="qr_done_confirmed"' in done.text
    assert (await asyncio.wait_for(watching, 3))["state"] == "confirmed"
    assert time.monotonic() - confirmed_at < 1.0, "the PC heard of the confirmation late"

    redeemed = await pc.http.post(tab.redeem, data={"csrf": tab.csrf})
    assert redeemed.status_code == 303 and redeemed.headers["location"].startswith(
        "/authorize/resume/"), redeemed.text[:1000]
    final = await pc.walk(redeemed)
    assert final.headers["location"].startswith(REDIRECT)
    claims = await id_token_claims(live, client, final)
    assert claims["preferred_username"] == person.username
    assert "mca" in claims["amr"] and "pwd" in claims["amr"]
    assert claims["acr"] == "urn:campus-idp:acr:pwd"

    events = await qr_events(live, client.client_id)
    assert [e.outcome for e in events][-3:] == ["scanned", "confirmed", "signed_in"]
    signed_in = events[-1]
    assert signed_in.actor == person.username and signed_in.ip == pc.ip  # type: ignore[attr-defined]
    assert signed_in.detail["phone_ip"] == phone.ip  # type: ignore[attr-defined]
    assert signed_in.detail["device"] == "Chrome · Windows"
    assert signed_in.detail["phone_device"] == "WeChat · iPhone"
    assert signed_in.detail["phone_user_agent"] == PHONE_AGENT
    assert events[-2].detail["pc_ip"] == pc.ip  # type: ignore[attr-defined]
    async with live.client() as http:
        metrics = (await http.get("/metrics")).text
    assert re.search(r'^idp_qr_signins_total\{outcome="signed_in"\} [1-9]', metrics, re.M)
    await pc.close()
    await phone.close()


async def test_a_confirmation_is_redeemed_once(live_idp: LiveIdp) -> None:
    client, person = await plain_client(live_idp), await new_person(live_idp)
    phone = await signed_in_phone(live_idp, client, person)
    pc = device(live_idp, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, client))
    page = await phone.http.get(tab.code_path)
    await answer(phone, tab, page, "confirm")
    first = await pc.http.post(tab.redeem, data={"csrf": tab.csrf})
    assert first.status_code == 303
    again = await pc.http.post(tab.redeem, data={"csrf": tab.csrf})
    assert again.status_code == 400
    assert (await poll(pc, tab, "confirmed"))["state"] == "expired"
    # the phone cannot use it again either
    assert (await phone.http.get(tab.code_path)).status_code == 400
    await pc.close()
    await phone.close()


async def test_phone_refuses(live_idp: LiveIdp) -> None:
    client, person = await plain_client(live_idp), await new_person(live_idp)
    phone = await signed_in_phone(live_idp, client, person)
    pc = device(live_idp, PC_AGENT)
    login_path = await pc_at_login(pc, client)
    tab = await qr_tab(pc, login_path)
    page = await phone.http.get(tab.code_path)
    watching = start_poll(pc, tab, "scanned")
    done = await answer(phone, tab, page, "refuse")
    assert 'data-state="qr_done_refused"' in done.text
    assert (await asyncio.wait_for(watching, 3))["state"] == "refused"
    # a refused code signs nobody in: the PC is sent back to its tab
    redeemed = await pc.http.post(tab.redeem, data={"csrf": tab.csrf})
    assert redeemed.status_code == 303 and redeemed.headers["location"] == f"{login_path}/qr"
    assert pc.http.cookies.get(live_idp.settings.session.cookie_name) is None
    # nor can the phone change its mind
    again = await answer(phone, tab, page, "confirm")
    assert 'data-state="qr_done_refused"' in again.text
    # the PC's page asks for a fresh code
    fresh = await pc.http.post(f"{login_path}/qr/new", data={"csrf": tab.csrf})
    assert fresh.status_code == 200
    assert fresh.json()["url"] != tab.url and fresh.json()["image"].startswith("data:image/svg")
    assert "refused" in [e.outcome for e in await qr_events(live_idp, client.client_id)]
    await pc.close()
    await phone.close()


async def test_another_browser_cannot_use_the_code(live_idp: LiveIdp) -> None:
    """Someone who photographs the code (or reads it off the screen) learns its URL only."""
    client, person = await plain_client(live_idp), await new_person(live_idp)
    phone = await signed_in_phone(live_idp, client, person)
    pc = device(live_idp, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, client))
    thief = device(live_idp, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
    # the thief shows a login page of their own, so they hold a CSRF token and a QR cookie
    thief_tab = await qr_tab(thief, await pc_at_login(thief, client))
    assert (await thief.http.get(tab.wait)).status_code == 403
    page = await phone.http.get(tab.code_path)
    await answer(phone, tab, page, "confirm")
    for token in (thief_tab.csrf, tab.csrf):
        stolen = await thief.http.post(tab.redeem, data={"csrf": token})
        assert stolen.status_code == 403 and "只能让显示它的那台设备登录" in stolen.text
    assert thief.http.cookies.get(live_idp.settings.session.cookie_name) is None
    # the PC that showed it still signs in
    redeemed = await pc.http.post(tab.redeem, data={"csrf": tab.csrf})
    assert redeemed.status_code == 303
    assert pc.http.cookies.get(live_idp.settings.session.cookie_name)
    outcomes = [e.outcome for e in await qr_events(live_idp, client.client_id)]
    assert outcomes.count("wrong_browser") == 2
    for browser in (pc, phone, thief):
        await browser.close()


async def test_a_second_phone_cannot_take_a_scanned_code(live_idp: LiveIdp) -> None:
    client = await plain_client(live_idp)
    phone = await signed_in_phone(live_idp, client, await new_person(live_idp))
    other = await signed_in_phone(live_idp, client, await new_person(live_idp))
    pc = device(live_idp, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, client))
    page = await phone.http.get(tab.code_path)
    assert page.status_code == 200
    taken = await other.http.get(tab.code_path)
    assert taken.status_code == 409
    refused = await other.http.post(tab.code_path, data={"csrf": "x" * 43, "action": "confirm"})
    assert refused.status_code == 403
    assert (await poll(pc, tab, "waiting"))["state"] == "scanned"
    for browser in (pc, phone, other):
        await browser.close()


async def test_confirm_and_refuse_need_the_phone_pages_csrf_token(live_idp: LiveIdp) -> None:
    client = await plain_client(live_idp)
    phone = await signed_in_phone(live_idp, client, await new_person(live_idp))
    pc = device(live_idp, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, client))
    await phone.http.get(tab.code_path)
    for data in ({"action": "confirm"}, {"action": "confirm", "csrf": tab.csrf},
                 {"action": "refuse", "csrf": "A" * 43}):
        forged = await phone.http.post(tab.code_path, data=data)
        assert forged.status_code == 403, data
    assert (await poll(pc, tab, "waiting"))["state"] == "scanned"  # nothing happened
    await pc.close()
    await phone.close()


async def test_phone_not_signed_in_signs_in_first(live_idp: LiveIdp) -> None:
    client, person = await plain_client(live_idp), await new_person(live_idp)
    pc = device(live_idp, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, client))
    phone = device(live_idp, PHONE_AGENT)
    opened = await phone.http.get(tab.code_path)
    assert opened.status_code == 303 and opened.headers["location"].startswith("/login/")
    login = await phone.http.get(opened.headers["location"])
    assert "扫码登录确认" in login.text  # the login says what it is for
    assert 'id="qr-tab"' not in login.text  # and offers no code of its own
    page = await phone.walk(opened, person)  # password, then back to the confirmation
    assert page.status_code == 200 and page.url.path == tab.code_path, page.text[:2000]
    assert 'id="qr-confirm"' in page.text
    await answer(phone, tab, page, "confirm")
    redeemed = await pc.http.post(tab.redeem, data={"csrf": tab.csrf})
    final = await pc.walk(redeemed)
    assert (await id_token_claims(live_idp, client, final))["preferred_username"] == \
        person.username
    await pc.close()
    await phone.close()


async def test_bad_requests_get_clear_answers(live_idp: LiveIdp) -> None:
    client = await plain_client(live_idp)
    pc = device(live_idp, PC_AGENT)
    tab = await qr_tab(pc, await pc_at_login(pc, client))
    wrong_state = await pc.http.get(tab.wait, params={"seen": "<script>"})
    assert wrong_state.status_code == 400 and wrong_state.json()["error"] == "invalid_request"
    assert (await pc.http.get("/qr/nope/wait")).json() == {"state": "expired"}
    assert (await pc.http.get("/qr/" + "x" * 500)).status_code == 400
    assert (await pc.http.post("/qr/nope/redeem", data={})).status_code == 400
    assert (await pc.http.get("/login/nope/qr")).status_code == 400
    assert (await pc.http.post("/login/nope/qr/new", data={})).status_code == 400
    phone = await signed_in_phone(live_idp, client, await new_person(live_idp))
    page = await phone.http.get(tab.code_path)
    odd = await answer(phone, tab, page, "maybe")
    assert odd.status_code == 400 and "确认登录" in odd.text
    for browser in (pc, phone):
        await browser.close()


@pytest.fixture(scope="module")
async def short_lived(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A server whose codes live 10 s (the shortest IDP_QR_TTL allows)."""
    root = tmp_path_factory.mktemp("qr-short")
    live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                           directory="local", redis_url=None, seed=True, qr={"ttl": 10})
    yield live
    await live.stop()


async def test_a_code_expires_and_the_page_gets_a_fresh_one(short_lived: LiveIdp) -> None:
    client = await plain_client(short_lived)
    pc = device(short_lived, PC_AGENT)
    login_path = await pc_at_login(pc, client)
    tab = await qr_tab(pc, login_path)
    assert "二维码 10 秒内有效" in tab.page.text
    started = time.monotonic()
    # the long poll wakes at the code's expiry by itself
    assert (await poll(pc, tab, "waiting"))["state"] == "expired"
    assert 8.5 <= time.monotonic() - started < 13
    phone = await signed_in_phone(short_lived, client, await new_person(short_lived))
    assert (await phone.http.get(tab.code_path)).status_code == 400
    fresh = await pc.http.post(f"{login_path}/qr/new", data={"csrf": tab.csrf})
    assert fresh.status_code == 200 and fresh.json()["expires_in"] >= 9
    page = await phone.http.get(fresh.json()["url"])
    assert page.status_code == 200 and 'id="qr-confirm"' in page.text
    # the fresh code needs this browser's token: another page cannot ask for one
    assert (await pc.http.post(f"{login_path}/qr/new", data={"csrf": "B" * 43})).status_code == 403
    for browser in (pc, phone):
        await browser.close()


async def test_both_pages_speak_english(live_idp: LiveIdp) -> None:
    client, person = await plain_client(live_idp), await new_person(live_idp)
    pc = device(live_idp, PC_AGENT)
    login_path = await pc_at_login(pc, client, ui_locales="en")
    tab = await pc.http.get(f"{login_path}/qr")
    assert "<h1>Scan to sign in</h1>" in tab.text and "Waiting for a scan" in tab.text
    assert 'data-text-scanned="Scanned. Confirm on your phone."' in tab.text
    phone = await signed_in_phone(live_idp, client, person)
    page = await phone.http.get(qr_path := (await qr_tab(pc, login_path)).code_path,
                                params={"ui_locales": "en"})
    assert "<h1>Confirm sign-in</h1>" in page.text and 'id="qr-when">just now<' in page.text
    done = await phone.http.post(qr_path, data={"csrf": form_field(page.text, "csrf"),
                                                "action": "refuse", "ui_locales": "en"})
    assert "Refused. The other device will not be signed in." in done.text
    for browser in (pc, phone):
        await browser.close()


async def test_a_held_poll_lets_go_at_shutdown_and_at_disconnect(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """A poll holds its answer up to 25 s; neither a restarting server nor a closed page may be
    kept waiting that long (idp/http/long_poll.py)."""
    root = tmp_path_factory.mktemp("qr-drain")
    live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                           directory="local", redis_url=None, seed=True)
    client = await plain_client(live)
    store = live.services.store
    try:
        # a page closed while its poll is held: the server stops waiting for it
        leaving = device(live, PC_AGENT)
        tab = await qr_tab(leaving, await pc_at_login(leaving, client))
        held = start_poll(leaving, tab, "waiting")
        await asyncio.sleep(0.5)
        assert store._waiters  # type: ignore[attr-defined]  # the in-process store's waits
        held.cancel()
        await leaving.close()
        for _ in range(40):
            if not store._waiters:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        assert not store._waiters, "the server still waits for a client that left"  # type: ignore[attr-defined]

        # a shutdown: the held poll answers at once with the state as it is
        pc = device(live, PC_AGENT)
        tab = await qr_tab(pc, await pc_at_login(pc, client))
        held = start_poll(pc, tab, "waiting")
        await asyncio.sleep(0.5)
        began = time.monotonic()
        await live.stop()
        assert time.monotonic() - began < 3, "a held poll kept the server from stopping"
        assert (await held)["state"] == "waiting"
        await pc.close()
    finally:
        if not live.task.done():
            await live.stop()
