"""Password policy flows against slapd's ppolicy: expired and must-change passwords are changed
in the directory (RFC 3062 Password Modify) and the login continues to the app; policy refusals
get their own message; an expiry warning and grace logins are shown on an interstitial page."""

from __future__ import annotations

import re

import pytest
from passlib.hash import ldap_salted_sha1

from directory.base import InvalidCredentials, PasswordExpired, PasswordRejected
from directory.ldap import LdapDirectory
from tests.security.conftest import LDAP_PEOPLE
from tests.security.flow import Authorization, change_password, page_error, register_app
from tests.security.support import root_read, user_bind_ok
from tests.support.server import LiveIdp
from tests.web.conftest import browser


def _stored_hash(live: LiveIdp, uid: str) -> str:
    return root_read(live.slapd, uid, "userPassword")["userPassword"][0].decode()


async def test_an_expired_password_is_changed_and_the_login_continues(ldap_idp: LiveIdp) -> None:
    """"short" policy: expired after a second, no grace binds left, so the person cannot bind at
    all; ppolicy's passwordExpired proves the password, the admin account makes the change."""
    old, new = LDAP_PEOPLE["expiring"], "Expiring-new-pass-2"
    app = await register_app(ldap_idp)
    async with browser(ldap_idp) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in("expiring", old)
        location = answer.headers["location"]
        assert location.startswith("/password/")
        wrong = await change_password(person, location, "not-it", new)
        assert wrong.status_code == 401  # slapd checked the old password, not just the IdP
        changed = await change_password(person, location, old, new)
        tokens = await flow.redeem(await flow.follow_to_app(changed))
    assert tokens["id_token"]
    stored = _stored_hash(ldap_idp, "expiring")
    assert stored.startswith("{SSHA}") and ldap_salted_sha1.verify(new, stored)
    assert not ldap_salted_sha1.verify(old, stored)
    assert "pwdReset" not in root_read(ldap_idp.slapd, "expiring", "pwdReset")


async def test_a_must_change_password_is_changed_as_the_person(ldap_idp: LiveIdp) -> None:
    old, new = LDAP_PEOPLE["mustreset"], "Must-reset-new-2"
    app = await register_app(ldap_idp)
    async with browser(ldap_idp) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in("mustreset", old)
        assert answer.headers["location"].startswith("/password/")
        page = await person.get(answer.headers["location"])
        assert "You must change your password first" in page.text
        changed = await change_password(person, answer.headers["location"], old, new)
        await flow.redeem(await flow.follow_to_app(changed))
    entry = root_read(ldap_idp.slapd, "mustreset", "pwdReset", "modifiersName")
    assert "pwdReset" not in entry  # ppolicy clears it when the person changes the password
    assert entry["modifiersName"] == [b"uid=mustreset,ou=people,dc=example,dc=edu"]
    assert user_bind_ok(ldap_idp.slapd, "mustreset", new)
    assert not user_bind_ok(ldap_idp.slapd, "mustreset", old)


async def test_policy_refusals_are_explained(ldap_idp: LiveIdp) -> None:
    old = LDAP_PEOPLE["strictly"]
    app = await register_app(ldap_idp)
    async with browser(ldap_idp) as person:
        flow = Authorization(person, app)
        location = (await flow.log_in("strictly", old)).headers["location"]
        short = await change_password(person, location, old, "Short-pw-1")  # pwdMinLength 12
        assert short.status_code == 400
        assert page_error(short.text).startswith("The new password is too short")
        changed = await change_password(person, location, old, "A-long-enough-pass-2")
        await flow.redeem(await flow.follow_to_app(changed))


async def test_a_recent_password_is_refused_by_its_history(security_ldap: LdapDirectory) -> None:
    first, second = LDAP_PEOPLE["history"], "History-second-pass-2"
    await security_ldap.change_password("history", first, second)
    with pytest.raises(PasswordRejected) as refused:
        await security_ldap.change_password("history", second, first)
    assert refused.value.reason == "in_history"


async def test_wrong_or_unknown_gets_invalid_credentials(security_ldap: LdapDirectory) -> None:
    for username in ("history", "nobody-at-all"):
        with pytest.raises(InvalidCredentials):
            await security_ldap.change_password(username, "not-the-password", "Whatever-pass-9")


async def test_an_expired_password_without_an_admin_account_cannot_be_changed(
    unconfigured_ldap: LdapDirectory,
) -> None:
    with pytest.raises(PasswordExpired):
        await unconfigured_ldap.change_password("noadmin", LDAP_PEOPLE["noadmin"], "Other-pass-22")


def _notice(html: str) -> str:
    match = re.search(r'<p class="message info" role="status">([^<]*)</p>', html)
    assert match, "no notice on the page"
    return match.group(1)


async def test_an_expiry_warning_comes_before_the_app(ldap_idp: LiveIdp) -> None:
    app = await register_app(ldap_idp)
    async with browser(ldap_idp) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in("warnme", LDAP_PEOPLE["warnme"])
        notice = answer.headers["location"]
        assert notice.endswith("/notice")
        assert person.cookies.get(ldap_idp.settings.session.cookie_name)  # signed in already
        page = await person.get(notice, params={"ui_locales": "en"})
        assert _notice(page.text) == ("Your password expires within 30 days. Change it now so "
                                      "that you are not locked out.")
        assert 'class="change-now" href="/password/' in page.text
        resume = re.search(r'<form method="get" action="([^"]+)">', page.text)
        assert resume and resume.group(1).startswith("/authorize/resume/")
        query = await flow.follow_to_app(await person.get(resume.group(1)))
        await flow.redeem(query)
    async with browser(ldap_idp) as stranger:  # the notice is for the session that saw it
        assert (await stranger.get(notice)).status_code == 400


async def test_grace_logins_are_shown_and_the_change_is_offered(ldap_idp: LiveIdp) -> None:
    old, new = LDAP_PEOPLE["graceful"], "Graceful-new-pass-2"
    app = await register_app(ldap_idp)
    async with browser(ldap_idp) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in("graceful", old)
        notice = answer.headers["location"]
        page = await person.get(notice, params={"ui_locales": "en"})
        assert _notice(page.text) == ("Your password has expired. You can sign in 2 more times "
                                      "before you must change it.")
        change_at = re.search(r'class="change-now" href="(/password/[^"]+)"', page.text)
        assert change_at
        changed = await change_password(person, change_at.group(1), old, new)
        assert changed.headers["location"].startswith("/authorize/resume/")
        await flow.redeem(await flow.follow_to_app(changed))
    assert user_bind_ok(ldap_idp.slapd, "graceful", new)
