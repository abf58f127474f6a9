"""Failed logins are throttled per account and per address before the directory is asked,
with one message whether or not the account exists."""

from __future__ import annotations

import secrets

from idp.settings import ThrottleSettings
from tests.support.server import LiveIdp
from tests.web.conftest import browser, error_message, fresh_ip, start_login, submit_login
from tests.web.test_login import new_person


async def _fail(live: LiveIdp, username: str, times: int, *, ip: str | None = None) -> None:
    interaction = await start_login(live)
    async with browser(live, ip=ip) as client:
        for _ in range(times):
            response = await submit_login(client, interaction, username, "wrong-password")
            assert response.status_code == 401


async def test_account_throttle_blocks_even_the_right_password(live_idp: LiveIdp) -> None:
    username = await new_person(live_idp)
    await _fail(live_idp, username, ThrottleSettings().per_account)
    interaction = await start_login(live_idp, ui_locales="en")
    async with browser(live_idp) as client:  # another address: the account counter decides
        response = await submit_login(client, interaction, username, "Correct-horse-1")
    assert response.status_code == 429
    assert error_message(response.text).startswith("Too many failed sign-in attempts")
    assert client.cookies.get(live_idp.settings.session.cookie_name) is None


async def test_same_refusal_for_existing_and_unknown_accounts(live_idp: LiveIdp) -> None:
    existing = await new_person(live_idp)
    unknown = f"ghost-{secrets.token_hex(4)}"
    answers = []
    for username in (existing, unknown):
        await _fail(live_idp, username, ThrottleSettings().per_account)
        interaction = await start_login(live_idp)
        async with browser(live_idp) as client:
            answers.append(await submit_login(client, interaction, username, "anything"))
    assert [a.status_code for a in answers] == [429, 429]
    assert error_message(answers[0].text) == error_message(answers[1].text)


async def test_account_counter_ignores_case_and_spaces(live_idp: LiveIdp) -> None:
    username = await new_person(live_idp)
    await _fail(live_idp, f"  {username.upper()} ", ThrottleSettings().per_account)
    interaction = await start_login(live_idp)
    async with browser(live_idp) as client:
        response = await submit_login(client, interaction, username, "Correct-horse-1")
    assert response.status_code == 429


async def test_address_throttle_spans_accounts(live_idp: LiveIdp) -> None:
    ip = fresh_ip()
    interaction = await start_login(live_idp)
    async with browser(live_idp, ip=ip) as client:
        for n in range(ThrottleSettings().per_ip):
            response = await submit_login(client, interaction, f"spray-{n}-{ip}", "Password1")
            assert response.status_code == 401
        blocked = await submit_login(client, interaction, "student", "student123")
    assert blocked.status_code == 429
    async with browser(live_idp) as elsewhere:  # the account itself is not throttled
        interaction = await start_login(live_idp)
        ok = await submit_login(elsewhere, interaction, "student", "student123")
    assert ok.status_code == 303


async def test_success_clears_the_account_counter(live_idp: LiveIdp) -> None:
    username = await new_person(live_idp)
    await _fail(live_idp, username, ThrottleSettings().per_account - 1)
    interaction = await start_login(live_idp)
    async with browser(live_idp) as client:
        assert (await submit_login(client, interaction, username, "Correct-horse-1")
                ).status_code == 303
    await _fail(live_idp, username, ThrottleSettings().per_account - 1)  # would be 429 otherwise
