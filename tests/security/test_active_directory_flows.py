"""campus-idp on Active Directory (a real Samba AD DC), through the browser: guessing stops below
the domain's lockoutThreshold; must-change (773) and expired (532) passwords are changed over
unicodePwd and the login continues to the app. The IdP is configured as README's "Connect
Active Directory" says, with one twist: a dead plain ldap:// URI listed before the DC's ldaps://,
which once turned every password change into "directory unavailable"."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.security.conftest import LDAP_THROTTLE, WINDOW
from tests.security.flow import Authorization, change_password, register_app
from tests.security.support import start_server
from tests.support.samba_campus import set_long_ago
from tests.support.samba_dc import LOCKOUT_THRESHOLD, SambaDC
from tests.support.server import LiveIdp
from tests.web.conftest import browser, start_login, submit_login


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ldap://127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def ad_idp(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[LiveIdp]:
    ldap = samba_dc.admin_settings(url=f"{_dead_url()} {samba_dc.url}")
    live = await start_server(tmp_path_factory.mktemp("ad-idp"), throttle=LDAP_THROTTLE,
                              directory="ldap", ldap=ldap.model_dump(), redis_url=None)
    yield live
    await live.stop()


def _person(samba_dc: SambaDC, stem: str, password: str) -> str:
    name = f"{stem}{uuid.uuid4().hex[:6]}"
    conn = samba_dc.admin()
    try:
        samba_dc.add_person(conn, name, password, name=name.title())
    finally:
        conn.unbind_s()
    return name


def _state(samba_dc: SambaDC, username: str) -> tuple[int, int]:
    """badPwdCount and lockoutTime, as the domain administrator reads them."""
    entry = samba_dc.entry(samba_dc.person_dn(username), ["badPwdCount", "lockoutTime"])
    return int(entry.get("badPwdCount", [b"0"])[0]), int(entry.get("lockoutTime", [b"0"])[0])


async def _guess(live: LiveIdp, username: str, password: str) -> int:
    interaction = await start_login(live, ui_locales="en")
    async with browser(live) as client:
        return (await submit_login(client, interaction, username, password)).status_code


async def test_guessing_stops_below_the_domain_lockout(ad_idp: LiveIdp, samba_dc: SambaDC) -> None:
    name = _person(samba_dc, "guess", "Guess-me-not-1")
    answers = [await _guess(ad_idp, name, f"guess-{n}") for n in range(LOCKOUT_THRESHOLD + 3)]
    allowed = LOCKOUT_THRESHOLD - 1
    assert answers == [401] * allowed + [429] * 4
    assert _state(samba_dc, name) == (allowed, 0)  # counted by the DC, never locked

    await asyncio.sleep(WINDOW + 0.5)
    app = await register_app(ad_idp)
    async with browser(ad_idp) as person:
        flow = Authorization(person, app)
        tokens = await flow.redeem(await flow.follow_to_app(await flow.log_in(name, "Guess-me-not-1")))
    assert tokens["id_token"]
    assert _state(samba_dc, name) == (0, 0)  # a good bind clears badPwdCount


async def _change_and_continue(live: LiveIdp, username: str, old: str, new: str) -> None:
    app = await register_app(live)
    async with browser(live) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in(username, old)
        location = answer.headers["location"]
        assert location.startswith("/password/"), location
        wrong = await change_password(person, location, "not-the-old-one", new)
        assert wrong.status_code == 401  # the DC checked the old value inside the modify
        changed = await change_password(person, location, old, new)
        tokens = await flow.redeem(await flow.follow_to_app(changed))
    assert tokens["id_token"]


async def test_must_change_is_changed_and_the_login_continues(
    ad_idp: LiveIdp, samba_dc: SambaDC,
) -> None:
    name = _person(samba_dc, "must", "Given-pass-1")
    samba_dc.modify(samba_dc.person_dn(name), [(2, "pwdLastSet", [b"0"])])  # MOD_REPLACE
    await _change_and_continue(ad_idp, name, "Given-pass-1", "Own-choice-2")
    samba_dc.connect(samba_dc.person_dn(name), "Own-choice-2").unbind_s()  # the DC has it
    entry = samba_dc.entry(samba_dc.person_dn(name), ["pwdLastSet"])
    assert int(entry["pwdLastSet"][0]) != 0


async def test_an_expired_password_is_changed_and_the_login_continues(
    ad_idp: LiveIdp, samba_dc: SambaDC,
) -> None:
    name = _person(samba_dc, "exp", "Old-pass-1")
    set_long_ago(samba_dc, samba_dc.person_dn(name))
    await _change_and_continue(ad_idp, name, "Old-pass-1", "Fresh-pass-2")
    samba_dc.connect(samba_dc.person_dn(name), "Fresh-pass-2").unbind_s()
