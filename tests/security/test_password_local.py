"""Password policy flows on the embedded directory: an expired or must-change password leads to
the change-password page, the directory takes the new password, and the login goes on to the app."""

from __future__ import annotations

import secrets

import pytest

from directory.base import InvalidCredentials
from tests.security.flow import Authorization, change_password, page_error, register_app
from tests.support.server import LiveIdp
from tests.web.conftest import browser, form_field, start_login, submit_login

OLD = "Old-password-1"
NEW = "Brand-new-password-2"


async def _person(live: LiveIdp, state: str) -> str:
    username = f"pw-{secrets.token_hex(4)}"
    directory = live.services.directory
    await directory.create_person(username, OLD, name="Pass Word")
    await getattr(directory, state)(username)
    return username


@pytest.mark.parametrize(("state", "reason"), [
    ("expire_password", "Your password has expired"),
    ("require_password_change", "You must change your password first"),
])
async def test_the_change_page_leads_on_to_the_app(local_idp: LiveIdp, state: str,
                                                   reason: str) -> None:
    username = await _person(local_idp, state)
    app = await register_app(local_idp)
    async with browser(local_idp) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in(username, OLD)
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith("/password/")
        assert person.cookies.get(local_idp.settings.session.cookie_name) is None  # not yet
        page = await person.get(location)
        assert reason in page.text and f"Account: {username}" in page.text

        mismatch = await change_password(person, location, OLD, NEW, again=NEW + "x")
        assert mismatch.status_code == 400
        assert page_error(mismatch.text) == "The two new passwords are not the same."
        short = await change_password(person, location, OLD, "short")
        assert short.status_code == 400 and page_error(short.text).startswith("The new password is too short")
        same = await change_password(person, location, OLD, OLD)
        assert page_error(same.text) == "The new password must differ from the current one."
        wrong = await change_password(person, location, "not-the-password", NEW)
        assert wrong.status_code == 401
        assert page_error(wrong.text) == "The current password is wrong."

        changed = await change_password(person, location, OLD, NEW)
        assert changed.status_code == 303
        tokens = await flow.redeem(await flow.follow_to_app(changed))
    assert tokens["id_token"] and tokens["access_token"]
    directory = local_idp.services.directory
    assert (await directory.authenticate(username, NEW)).username == username
    with pytest.raises(InvalidCredentials):
        await directory.authenticate(username, OLD)
    state_now = await directory.account_state(username)
    assert not state_now.password_expired and not state_now.must_change


async def test_the_account_is_the_one_that_signed_in(local_idp: LiveIdp) -> None:
    """The page changes the password of the login that got there, whatever the form says."""
    username = await _person(local_idp, "expire_password")
    victim = await _person(local_idp, "require_password_change")
    interaction = await start_login(local_idp)
    async with browser(local_idp) as client:
        answer = await submit_login(client, interaction, username, OLD)
        location = answer.headers["location"]
        page = await client.get(location)
        response = await client.post(location, data={
            "csrf": form_field(page.text, "csrf"), "username": victim, "current_password": OLD,
            "new_password": NEW, "new_password_again": NEW})
    assert response.status_code == 303
    directory = local_idp.services.directory
    await directory.authenticate(username, NEW)
    assert (await directory.account_state(victim)).must_change  # untouched


async def test_no_change_page_without_a_login_that_needs_it(local_idp: LiveIdp) -> None:
    interaction = await start_login(local_idp, ui_locales="en")
    async with browser(local_idp) as client:
        for path in (f"/password/{interaction.id}", "/password/nonsense",
                     f"/password/{interaction.id}/notice"):
            page = await client.get(path)
            assert page.status_code == 400, path
            assert "此登录链接已过期" in page.text  # the site default language: zh
        posted = await client.post(f"/password/{interaction.id}", data={
            "current_password": OLD, "new_password": NEW, "new_password_again": NEW})
        assert posted.status_code == 400


async def test_the_change_form_needs_its_csrf_token(local_idp: LiveIdp) -> None:
    username = await _person(local_idp, "expire_password")
    interaction = await start_login(local_idp)
    async with browser(local_idp) as client:
        location = (await submit_login(client, interaction, username, OLD)).headers["location"]
        response = await client.post(location, data={
            "current_password": OLD, "new_password": NEW, "new_password_again": NEW})
    assert response.status_code == 403
    with pytest.raises(InvalidCredentials):  # nothing was changed
        await local_idp.services.directory.authenticate(username, NEW)


async def test_guessing_the_current_password_is_throttled(local_idp: LiveIdp) -> None:
    username = await _person(local_idp, "require_password_change")
    interaction = await start_login(local_idp)
    async with browser(local_idp) as client:
        location = (await submit_login(client, interaction, username, OLD)).headers["location"]
        statuses = [(await change_password(client, location, f"guess-{n}", NEW)).status_code
                    for n in range(6)]
    assert statuses == [401] * 5 + [429]

