"""People through the admin API, on the local directory, a real slapd and a real Samba AD DC
(admin bind):
create, edit, disable / enable, unlock after a lockout, reset (the new password opens a real
bind, the old one no longer does), force a change (the next login is MustChangePassword)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from directory.base import (
    AccountDisabled,
    AccountLocked,
    DirectoryError,
    InvalidCredentials,
    MustChangePassword,
)
from directory.local import LocalDirectory
from idp.db.models import AuditEvent
from tests.admin.support import AdminBackend, unique_username
from tests.support.samba_dc import LOCKOUT_THRESHOLD
from tests.support.slapd import MAX_FAILURE


@pytest.fixture(params=["local", "ldap", "ad"])
def backend(request: pytest.FixtureRequest) -> AdminBackend:
    """Here also on Active Directory: every people action through the delegated writer."""
    return request.getfixturevalue(f"admin_{request.param}")


async def login_error(backend: AdminBackend, username: str, password: str) -> str | None:
    """What the login pipeline's directory says: None (success) or the error kind."""
    try:
        await backend.services.directory.authenticate(username, password)
    except DirectoryError as exc:
        return exc.kind
    return None


async def admin_events(backend: AdminBackend, action: str, target: str) -> list[AuditEvent]:
    async with backend.services.db() as db:
        rows = await db.execute(select(AuditEvent).where(AuditEvent.kind == "admin"))
    return [e for e in rows.scalars()
            if e.detail.get("action") == action and e.detail.get("target") == target]


async def test_create_person_with_groups_then_read_them(backend: AdminBackend) -> None:
    username = unique_username("new")
    body = {"username": username, "password": "Create-pass-1", "name": "李 新生",
            "given_name": "新生", "family_name": "李", "email": f"{username}@example.edu",
            "number": "2025000001", "department": "物理学院", "affiliations": ["student", "member"],
            "groups": ["students"]}
    created = await backend.ok("POST", "/people", 201, json=body)
    assert created["password"] is None  # a password was given: nothing generated
    assert created["person"]["username"] == username
    detail = await backend.ok("GET", f"/people/{username}")
    assert detail["name"] == "李 新生" and detail["department"] == "物理学院"
    assert detail["groups"] == ["students"]
    assert detail["affiliations"] == ["student", "member"]
    assert detail["state"] == {"disabled": False, "locked": False, "must_change": False,
                               "password_expired": False, "failures": 0, "to_activate": False}
    assert await login_error(backend, username, "Create-pass-1") is None
    [event] = await admin_events(backend, "create_person", username)
    assert event.outcome == "success" and event.actor == "itadmin"
    assert event.detail["via"] == "api"


async def test_create_without_password_returns_a_one_time_password(backend: AdminBackend) -> None:
    """A generated password is handed over by someone else: it opens the first login only, which
    asks for the person's own before going on."""
    username = unique_username("otp")
    created = await backend.ok("POST", "/people", 201, json={"username": username, "name": "O T P"})
    password = created["password"]
    assert isinstance(password, str) and len(password) >= 12
    assert await login_error(backend, username, password) == "must_change_password"
    assert (await backend.ok("GET", f"/people/{username}"))["state"]["must_change"] is True
    assert await login_error(backend, username, password + "x") == "invalid_credentials"


async def test_bad_input_is_422_naming_the_field_and_nothing_is_written(backend: AdminBackend) -> None:
    username = unique_username("bad")
    for body, words in (
        ({"username": username, "email": "not-an-address"}, "email"),
        ({"username": username, "affiliations": ["wizard"]}, "affiliation"),
        ({"username": "has space"}, "username"),
        ({"username": username, "password": "short"}, "password"),
        ({"username": username, "groups": ["no-such-group"]}, "no-such-group"),
    ):
        response = await backend.api("POST", "/people", json=body)
        assert response.status_code == 422, response.text
        assert words in response.json()["error_description"]
    assert await backend.person(username) is None
    duplicate = await backend.api("POST", "/people", json={"username": "student"})
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"


async def test_edit_changes_and_removes_attributes(backend: AdminBackend) -> None:
    username, _ = await backend.new_person(phone="+86 10 5555 0000")
    edited = await backend.ok("PATCH", f"/people/{username}",
                              json={"department": "化学学院", "phone": None, "title": "助教"})
    assert edited["department"] == "化学学院" and edited["phone"] is None
    assert edited["title"] == "助教"
    person = await backend.person(username)
    assert person is not None and person.department == "化学学院" and person.phone is None
    unknown = await backend.api("PATCH", f"/people/{username}", json={"uid": "x"})
    assert unknown.status_code == 422
    missing = await backend.api("PATCH", "/people/nobody-here", json={"title": "x"})
    assert missing.status_code == 404


async def test_disable_and_enable(backend: AdminBackend) -> None:
    username, password = await backend.new_person()
    result = await backend.ok("POST", f"/people/{username}/disable")
    assert result["disabled"] is True
    kind = await login_error(backend, username, password)
    # OpenLDAP: a permanent ppolicy lock (the bind fails as locked); local and AD (533): disabled
    assert kind == ("account_locked" if backend.kind == "ldap" else "account_disabled")
    state = (await backend.ok("GET", f"/people/{username}"))["state"]
    assert state["disabled"] is True and state["locked"] is False
    # unlocking a disabled account must not enable it
    await backend.ok("POST", f"/people/{username}/unlock")
    assert await login_error(backend, username, password) == kind
    await backend.ok("POST", f"/people/{username}/enable")
    assert await login_error(backend, username, password) is None
    assert (await backend.ok("GET", f"/people/{username}"))["state"]["disabled"] is False


async def _lock_out(backend: AdminBackend, username: str) -> None:
    directory = backend.services.directory
    if isinstance(directory, LocalDirectory):
        await directory.lock(username)  # the local directory locks on an admin's word only
        return
    # ppolicy counts the failures and locks (pwdMaxFailure); AD likewise (lockoutThreshold)
    for _ in range(LOCKOUT_THRESHOLD if backend.kind == "ad" else MAX_FAILURE):
        with pytest.raises((InvalidCredentials, AccountLocked)):
            await directory.authenticate(username, "wrong-password")


async def test_unlock_after_a_lockout(backend: AdminBackend) -> None:
    username, password = await backend.new_person()
    await _lock_out(backend, username)
    assert await login_error(backend, username, password) == "account_locked"
    state = (await backend.ok("GET", f"/people/{username}"))["state"]
    assert state["locked"] is True and state["disabled"] is False
    await backend.ok("POST", f"/people/{username}/unlock")
    assert await login_error(backend, username, password) is None
    state = (await backend.ok("GET", f"/people/{username}"))["state"]
    assert state["locked"] is False and state["failures"] == 0
    assert [e.outcome for e in await admin_events(backend, "unlock_person", username)] == ["success"]


async def test_reset_password_new_one_binds_old_one_fails(backend: AdminBackend) -> None:
    username, old = await backend.new_person()
    reset = await backend.ok("POST", f"/people/{username}/reset-password", json={"mode": "password"})
    new = reset["password"]
    assert new and new != old and reset["link"] is None
    assert await backend.bind(username, new)
    assert not await backend.bind(username, old)
    # no change was asked for: the new password logs in at once
    assert await login_error(backend, username, new) is None


async def test_reset_with_must_change_then_force_change(backend: AdminBackend) -> None:
    username, _ = await backend.new_person()
    reset = await backend.ok("POST", f"/people/{username}/reset-password",
                             json={"mode": "password", "must_change": True})
    assert await login_error(backend, username, reset["password"]) == "must_change_password"
    assert (await backend.ok("GET", f"/people/{username}"))["state"]["must_change"] is True

    other, password = await backend.new_person()
    assert await login_error(backend, other, password) is None
    await backend.ok("POST", f"/people/{other}/force-password-change")
    with pytest.raises(MustChangePassword):
        await backend.services.directory.authenticate(other, password)


async def test_paged_search(backend: AdminBackend) -> None:
    stem = unique_username("page")
    for n in range(5):
        await backend.new_person(username=f"{stem}-{n}")
    first = await backend.ok("GET", "/people", params={"q": stem, "size": 2})
    second = await backend.ok("GET", "/people", params={"q": stem, "size": 2, "page": 2})
    third = await backend.ok("GET", "/people", params={"q": stem, "size": 2, "page": 3})
    names = [p["username"] for page in (first, second, third) for p in page["items"]]
    assert sorted(names) == [f"{stem}-{n}" for n in range(5)]
    assert (first["has_more"], second["has_more"], third["has_more"]) == (True, True, False)
    assert (await backend.ok("GET", "/people", params={"q": "(*)\\"}))["items"] == []
    too_big = await backend.api("GET", "/people", params={"size": 100000})
    assert too_big.status_code == 422


async def test_disabled_login_is_refused_by_the_login_page_too(backend: AdminBackend) -> None:
    username, password = await backend.new_person()
    await backend.ok("POST", f"/people/{username}/disable")
    with pytest.raises((AccountDisabled, AccountLocked)):
        await backend.services.directory.authenticate(username, password)
