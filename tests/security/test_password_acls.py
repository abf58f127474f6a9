"""Changing one's own password on slapd under each common userPassword ACL (issue 24 item 1).

`by self write` lets slapd read the password, so it verifies the old one sent with RFC 3062
Password Modify; `by self =xw` lets it authenticate with it; `by self =w` lets the person only
write it, and slapd then answers "unwilling to verify old password" (err=53) to a request that
carries the old one. The bind has already proved the old password, so the change must work under
all three, from the account page and from the expired / must-change / grace flows of a login, and
no refusal of that kind may count as a wrong password (toward the IdP's throttles or as a failed
bind in slapd). A wrong current password must still be refused under all three.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from idp.mfa import attempts
from idp.web.account_password import THROTTLE_KIND
from tests.security.flow import Authorization, change_password, field_value, register_app
from tests.security.support import (
    SECURITY_POLICIES,
    add_people,
    failure_count,
    person_ldif,
    policy,
    start_server,
    user_bind_ok,
)
from tests.support.server import LiveIdp
from tests.support.slapd import DEFAULT_POLICY, PASSWORD_ACLS, Campus, CampusSlapd, ldap_settings
from tests.web.conftest import browser

PEOPLE = {
    "selfserve": "Self-serve-pass-1",  # the account page
    "mustreset": "Must-reset-pass-1",  # pwdReset: must change at the next login
    "graceful": "Graceful-pass-1",  # expired, grace binds left: the login's expiry notice
    "expiring": "Expiring-pass-1",  # expired, no grace: the admin account makes the change
    "wrongold": "Wrong-old-pass-1",  # a wrong current password, under every ACL
}


@pytest.fixture(scope="module", params=PASSWORD_ACLS)
def acl_slapd(request: pytest.FixtureRequest) -> Iterator[Campus]:
    server = CampusSlapd(memberof=False, password_acl=request.param)
    server.start()
    server.seed(SECURITY_POLICIES)
    p = PEOPLE
    add_people(
        server,
        person_ldif("selfserve", p["selfserve"]),
        person_ldif("mustreset", p["mustreset"], "pwdReset: TRUE"),
        person_ldif("graceful", p["graceful"], policy("graced")),
        person_ldif("expiring", p["expiring"], policy("short")),
        person_ldif("wrongold", p["wrongold"]),
    )
    campus = Campus(server)
    campus.wait_for_expiry()
    yield campus
    server.stop()


@pytest.fixture(scope="module")
async def acl_idp(acl_slapd: Campus, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[LiveIdp]:
    server = acl_slapd.server
    ldap = ldap_settings(server, admin_bind_dn=server.root_dn, admin_bind_password=server.root_pw,
                         ppolicy_default_dn=DEFAULT_POLICY)
    live = await start_server(tmp_path_factory.mktemp("acl-idp"), directory="ldap",
                              ldap=ldap.model_dump(), redis_url=None)
    live.slapd = server
    yield live
    await live.stop()


async def _ip_failures(live: LiveIdp, client: httpx.AsyncClient) -> int:
    """The login throttle's failure count of this browser's address."""
    ip = client.headers["x-forwarded-for"]
    return int(await live.services.store.get(f"throttle:login:ip:{ip}") or 0)


async def _account_change(live: LiveIdp, client: httpx.AsyncClient, username: str, old: str,
                          new: str) -> httpx.Response:
    app = await register_app(live)
    flow = Authorization(client, app)
    await flow.follow_to_app(await flow.log_in(username, PEOPLE[username]))
    page = await client.get("/account/password")
    if page.status_code == 303:  # the account area's own sign-in: the SSO session carries it
        for _ in range(6):
            page = await client.get(page.headers["location"].removeprefix(live.settings.issuer))
            if page.status_code == 200:
                break
    assert page.status_code == 200, page.text[:1000]
    return await client.post("/account/password", data={
        "csrf": field_value(page.text, "csrf"), "old": old, "new": new, "confirm": new})


async def test_the_account_page_changes_the_password(acl_idp: LiveIdp) -> None:
    old, new = PEOPLE["selfserve"], "Self-serve-new-pass-2"
    subject = (await acl_idp.services.directory.find("selfserve")).subject  # type: ignore[union-attr]
    async with browser(acl_idp) as person:
        changed = await _account_change(acl_idp, person, "selfserve", old, new)
        assert changed.status_code == 303, changed.text[:1000]
        assert changed.headers["location"] == "/account?done=account_password_changed"
    # nothing counted as a wrong password: not by the account page, not by slapd
    assert not await attempts.blocked(acl_idp.services.store, subject, 1, THROTTLE_KIND)
    assert failure_count(acl_idp.slapd, "selfserve") == 0
    assert user_bind_ok(acl_idp.slapd, "selfserve", new)
    assert not user_bind_ok(acl_idp.slapd, "selfserve", old)  # (slapd counts this one)


async def test_a_wrong_current_password_is_still_refused(acl_idp: LiveIdp) -> None:
    old = PEOPLE["wrongold"]
    subject = (await acl_idp.services.directory.find("wrongold")).subject  # type: ignore[union-attr]
    async with browser(acl_idp) as person:
        refused = await _account_change(acl_idp, person, "wrongold", "not-" + old,
                                        "Wrong-old-new-pass-2")
        assert refused.status_code == 401
        assert 'role="alert"' in refused.text
    assert user_bind_ok(acl_idp.slapd, "wrongold", old)
    assert await attempts.blocked(acl_idp.services.store, subject, 1, THROTTLE_KIND)


async def test_a_must_change_password_is_changed_at_login(acl_idp: LiveIdp) -> None:
    old, new = PEOPLE["mustreset"], "Must-reset-new-pass-2"
    app = await register_app(acl_idp)
    async with browser(acl_idp) as person:
        flow = Authorization(person, app)
        location = (await flow.log_in("mustreset", old)).headers["location"]
        assert location.startswith("/password/")
        before = await _ip_failures(acl_idp, person)
        changed = await change_password(person, location, old, new)
        assert changed.status_code == 303, changed.text[:1000]
        await flow.redeem(await flow.follow_to_app(changed))
        assert await _ip_failures(acl_idp, person) == before
    assert user_bind_ok(acl_idp.slapd, "mustreset", new)
    assert failure_count(acl_idp.slapd, "mustreset") == 0


async def test_a_grace_login_changes_the_expired_password(acl_idp: LiveIdp) -> None:
    old, new = PEOPLE["graceful"], "Graceful-new-pass-2"
    app = await register_app(acl_idp)
    async with browser(acl_idp) as person:
        flow = Authorization(person, app)
        notice = (await flow.log_in("graceful", old)).headers["location"]
        assert notice.endswith("/notice")
        location = notice.removesuffix("/notice")
        before = await _ip_failures(acl_idp, person)
        changed = await change_password(person, location, old, new)
        assert changed.status_code == 303, changed.text[:1000]
        assert changed.headers["location"].startswith("/authorize/resume/")
        assert await _ip_failures(acl_idp, person) == before
    assert user_bind_ok(acl_idp.slapd, "graceful", new)


async def test_an_expired_password_is_changed_by_the_admin_account(acl_idp: LiveIdp) -> None:
    old, new = PEOPLE["expiring"], "Expiring-new-pass-2"
    app = await register_app(acl_idp)
    async with browser(acl_idp) as person:
        flow = Authorization(person, app)
        location = (await flow.log_in("expiring", old)).headers["location"]
        assert location.startswith("/password/")
        changed = await change_password(person, location, old, new)
        await flow.redeem(await flow.follow_to_app(changed))
    assert user_bind_ok(acl_idp.slapd, "expiring", new)
