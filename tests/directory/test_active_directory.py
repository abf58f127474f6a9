"""What only the Active Directory profile does, against a real Samba AD DC (tests/support/
samba_dc.py): AD's sub-codes, nesting through LDAP_MATCHING_RULE_IN_CHAIN, objectGUID subjects,
LDAPS with a campus CA, lockout thresholds from the domain and from a fine-grained policy,
unicodePwd changes (delete old + add new) and the admin writes (replace, userAccountControl,
lockoutTime, pwdLastSet)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import ldap
import pytest

from directory.base import (
    AccountDisabled,
    AccountLocked,
    DirectoryUnavailable,
    InvalidCredentials,
    MustChangePassword,
    PasswordExpired,
    PasswordRejected,
)
from directory.ldap import LdapDirectory
from directory.ldap_admin import LdapAdminWriter
from tests.support.samba_campus import NESTED_PASSWORD, PSO_LOCKOUT_THRESHOLD, set_long_ago
from tests.support.samba_dc import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE,
    GROUPS,
    LOCKOUT_THRESHOLD,
    SERVICE_DN,
    WRITER_DN,
    WRITER_PASSWORD,
    SambaDC,
    SambaDCError,
)
from tests.support.slapd import Campus, ldap_settings


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ldap://127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def ad_admin(samba_dc: SambaDC) -> AsyncIterator[LdapAdminWriter]:
    """The admin writer bound as the delegated writer account (IDP_LDAP_ADMIN_BIND_DN)."""
    directory = LdapDirectory(samba_dc.admin_settings())
    writer = LdapAdminWriter(directory)
    yield writer
    await writer.close()
    await directory.close()


def _new_name(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:6]}"  # sAMAccountName: 20 characters at most


# --- sign-in answers ----------------------------------------------------------------------------

@pytest.mark.parametrize(("username", "password", "error", "code"), [
    ("disabled", "disabled-pass-1", AccountDisabled, "533"),
    ("mustchange", "mustchange-pass-1", MustChangePassword, "773"),
    ("expired", "expired-pass-1", PasswordExpired, "532"),
    ("locked", "locked-pass-1", AccountLocked, "775"),
])
async def test_account_states_come_from_ad_subcodes(
    ad_directory: LdapDirectory, username: str, password: str, error: type, code: str,
) -> None:
    with pytest.raises(error) as caught:
        await ad_directory.authenticate(username, password)
    assert type(caught.value) is error
    assert caught.value.detail == f"AD data {code}"  # the real code, for the log and audit


async def test_wrong_password_is_52e_and_looks_like_no_such_user(ad_directory: LdapDirectory) -> None:
    with pytest.raises(InvalidCredentials) as wrong:
        await ad_directory.authenticate("developer", "developer124")
    with pytest.raises(InvalidCredentials) as unknown:
        await ad_directory.authenticate("no-such-one", "developer124")
    assert wrong.value.detail == "AD data 52e"
    assert str(wrong.value) == str(unknown.value)
    assert (await ad_directory.authenticate("developer", "developer123")).username == "developer"


# --- people and groups ------------------------------------------------------------------------

async def test_nested_groups_through_the_in_chain_rule(
    ad_directory: LdapDirectory, samba_dc: SambaDC,
) -> None:
    # the teacher is a direct member of faculty only; faculty is a member of staff
    staff = samba_dc.entry(f"CN=staff,{GROUPS}", ["member"])["member"]
    assert all(b"CN=teacher," not in dn for dn in staff)
    teacher = await ad_directory.find("teacher")
    assert teacher is not None and teacher.groups == ("faculty", "staff")
    # three levels and a cycle (g-inner contains g-outer again): each group once
    nested = await ad_directory.authenticate("nested", NESTED_PASSWORD)
    assert nested.groups == ("g-inner", "g-middle", "g-outer")


async def test_subject_is_the_object_guid(ad_directory: LdapDirectory, samba_dc: SambaDC) -> None:
    student = await ad_directory.find("student")
    assert student is not None and student.dn is not None
    raw = samba_dc.entry(student.dn, ["objectGUID"])["objectGUID"][0]
    assert student.subject == str(uuid.UUID(bytes_le=raw))
    found = await ad_directory.by_subject(student.subject.upper())  # any spelling of the UUID
    assert found is not None and found.username == "student"
    assert await ad_directory.by_subject(str(uuid.uuid4())) is None
    assert await ad_directory.by_subject("not-a-uuid") is None


# --- the connection --------------------------------------------------------------------------

async def test_the_campus_ca_is_required(samba_dc: SambaDC) -> None:
    other = LdapDirectory(samba_dc.settings(ca_file="/etc/ssl/certs/ca-certificates.crt"))
    try:
        with pytest.raises(DirectoryUnavailable):
            await other.check()
    finally:
        await other.close()


async def test_start_tls_on_ldap_port(samba_dc: SambaDC) -> None:
    directory = LdapDirectory(samba_dc.settings(url="ldap://127.0.0.1", start_tls=True))
    try:
        assert (await directory.authenticate("student", "student123")).username == "student"
    finally:
        await directory.close()


async def test_plain_ldap_is_refused_by_the_dc(samba_dc: SambaDC) -> None:
    directory = LdapDirectory(samba_dc.settings(url="ldap://127.0.0.1"))
    try:
        with pytest.raises(DirectoryUnavailable) as caught:
            await directory.authenticate("student", "student123")
        assert "rejected" in str(caught.value) or "STRONG" in (caught.value.detail or "").upper()
    finally:
        await directory.close()


# --- lockout thresholds -----------------------------------------------------------------------

async def test_lockout_threshold_of_the_domain(ad_directory: LdapDirectory) -> None:
    assert await ad_directory.lockout_threshold("student") == LOCKOUT_THRESHOLD
    assert await ad_directory.lockout_threshold("no-such-one") == LOCKOUT_THRESHOLD


async def test_an_unreadable_fine_grained_policy_is_cannot_tell(ad_directory: LdapDirectory) -> None:
    """The service account sees msDS-ResultantPSO but may not read the PSO itself (AD's
    default): "cannot tell", so the throttle uses its small fallback budget, not the domain's
    5 that this PSO lowers to 3."""
    for _ in range(2):  # the second answer comes from the cache, and is the same
        with pytest.raises(DirectoryUnavailable) as caught:
            await ad_directory.lockout_threshold("expired")
        assert "Password Settings Container" in (caught.value.detail or "")


async def test_a_readable_fine_grained_policy_gives_its_threshold(samba_dc: SambaDC) -> None:
    directory = LdapDirectory(samba_dc.settings(bind_dn=ADMIN_DN, bind_password=ADMIN_PASSWORD))
    try:
        assert await directory.lockout_threshold("expired") == PSO_LOCKOUT_THRESHOLD
        assert await directory.lockout_threshold("student") == LOCKOUT_THRESHOLD
    finally:
        await directory.close()


# --- the person's own password change (unicodePwd delete + add) -------------------------------

async def test_password_change_with_the_old_password(
    ad_directory: LdapDirectory, ad_admin: LdapAdminWriter,
) -> None:
    name = _new_name("chg")
    await ad_admin.create_person(name, password="first-pass-1", name="Changer")
    with pytest.raises(InvalidCredentials):
        await ad_directory.change_password(name, "not-the-old-one", "second-pass-2")
    with pytest.raises(PasswordRejected) as short:
        await ad_directory.change_password(name, "first-pass-1", "abc")  # minPwdLength 6
    assert short.value.reason == "quality"
    await ad_directory.change_password(name, "first-pass-1", "second-pass-2")
    assert (await ad_directory.authenticate(name, "second-pass-2")).username == name
    with pytest.raises(InvalidCredentials):
        await ad_directory.authenticate(name, "first-pass-1")


async def test_must_change_then_change_then_sign_in_over_mixed_uris(
    samba_dc: SambaDC, ad_admin: LdapAdminWriter,
) -> None:
    """A dead plain URI before the DC's ldaps://: the change goes over the TLS connection
    actually in use (it was refused while any configured URI was plain)."""
    name = _new_name("mix")
    await ad_admin.create_person(name, password="given-pass-1", name="Mixed", must_change=True)
    directory = LdapDirectory(samba_dc.settings(url=f"{_dead_url()} {samba_dc.url}"))
    try:
        with pytest.raises(MustChangePassword):
            await directory.authenticate(name, "given-pass-1")
        await directory.change_password(name, "given-pass-1", "own-choice-2")
        assert (await directory.authenticate(name, "own-choice-2")).username == name
    finally:
        await directory.close()


async def test_an_expired_password_is_changed(
    ad_directory: LdapDirectory, ad_admin: LdapAdminWriter, samba_dc: SambaDC,
) -> None:
    name = _new_name("exp")
    await ad_admin.create_person(name, password="old-pass-1", name="Expiring")
    set_long_ago(samba_dc, samba_dc.person_dn(name))  # domain maxPwdAge: 42 days
    with pytest.raises(PasswordExpired):
        await ad_directory.authenticate(name, "old-pass-1")
    await ad_directory.change_password(name, "old-pass-1", "new-pass-2")
    assert (await ad_directory.authenticate(name, "new-pass-2")).username == name


# --- admin writes through the admin bind --------------------------------------------------------

async def test_admin_create_reset_disable_enable(
    ad_directory: LdapDirectory, ad_admin: LdapAdminWriter, samba_dc: SambaDC,
) -> None:
    name = _new_name("adm")
    person = await ad_admin.create_person(
        name, password="created-pass-1", name="王 管理", email=f"{name}@example.edu",
        department="信息化中心", groups=["staff"])
    assert person.name == "王 管理" and person.department == "信息化中心"
    assert person.groups == ("staff",)
    assert (await ad_directory.authenticate(name, "created-pass-1")).subject == person.subject

    await ad_admin.set_password(name, "reset-pass-2", must_change=True)  # replace: a reset
    with pytest.raises(MustChangePassword):
        await ad_directory.authenticate(name, "reset-pass-2")
    assert (await ad_admin.account_state(name)).must_change
    await ad_admin.set_password(name, "reset-pass-3")
    assert (await ad_directory.authenticate(name, "reset-pass-3")).username == name

    await ad_admin.set_disabled(name, True)
    with pytest.raises(AccountDisabled):
        await ad_directory.authenticate(name, "reset-pass-3")
    assert (await ad_admin.account_state(name)).disabled
    control = int(samba_dc.entry(person.dn or "", ["userAccountControl"])["userAccountControl"][0])
    assert control & 0x2
    await ad_admin.set_disabled(name, False)
    assert (await ad_directory.authenticate(name, "reset-pass-3")).username == name


async def test_admin_unlock_after_the_dc_locked(
    ad_directory: LdapDirectory, ad_admin: LdapAdminWriter, samba_dc: SambaDC,
) -> None:
    name = _new_name("lck")
    await ad_admin.create_person(name, password="locked-out-1", name="Locked Out")
    samba_dc.fail_binds(name, LOCKOUT_THRESHOLD)
    with pytest.raises(AccountLocked):
        await ad_directory.authenticate(name, "locked-out-1")
    state = await ad_admin.account_state(name)
    assert state.locked
    await ad_admin.unlock(name)
    assert not (await ad_admin.account_state(name)).locked
    assert (await ad_directory.authenticate(name, "locked-out-1")).username == name


async def test_admin_delete(ad_directory: LdapDirectory, ad_admin: LdapAdminWriter) -> None:
    name = _new_name("del")
    await ad_admin.create_person(name, password="deleted-pass-1")
    await ad_admin.delete_person(name)
    assert await ad_directory.find(name) is None
    with pytest.raises(InvalidCredentials):
        await ad_directory.authenticate(name, "deleted-pass-1")


async def test_the_writer_has_only_its_delegated_rights(samba_dc: SambaDC) -> None:
    """The writes above ran with the rights README delegates, not as a Domain Admin: outside
    OU=people and OU=groups the writer account may change nothing."""
    conn = samba_dc.connect(WRITER_DN, WRITER_PASSWORD)
    try:
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            conn.modify_s(SERVICE_DN, [(ldap.MOD_REPLACE, "description", [b"taken over"])])
    finally:
        conn.unbind_s()


async def test_an_expired_account_is_701(
    ad_directory: LdapDirectory, ad_admin: LdapAdminWriter, samba_dc: SambaDC,
) -> None:
    name = _new_name("acx")
    await ad_admin.create_person(name, password="account-pass-1")
    # accountExpires: 100-nanosecond intervals since 1601; 1 is long past
    samba_dc.modify(samba_dc.person_dn(name), [(ldap.MOD_REPLACE, "accountExpires", [b"1"])])
    with pytest.raises(AccountDisabled) as caught:
        await ad_directory.authenticate(name, "account-pass-1")
    assert caught.value.detail == "AD data 701" and str(caught.value) == "account expired"


async def test_no_password_change_over_a_plain_connection(campus: Campus) -> None:
    """Samba refuses plain simple binds, so a plain connection that works is another server's:
    slapd on ldap:// under the activedirectory profile. The connection in use is plain, so the
    change is refused before any unicodePwd is sent (moved here from a unit test that only
    looked at the configured URIs)."""
    directory = LdapDirectory(ldap_settings(campus.server, profile="activedirectory"))
    try:
        with pytest.raises(DirectoryUnavailable, match="LDAPS or StartTLS") as caught:
            await directory.change_password("student", "student123", "never-sent-1")
        assert campus.server.ldap_uri.rstrip("/") in (caught.value.detail or "")
    finally:
        await directory.close()


async def test_admin_people_search_pages_on_ad(ad_admin: LdapAdminWriter) -> None:
    """The console's search: one escaped filter, Simple Paged Results, and the early abandon
    (page size 0 with the cookie, RFC 2696 §3) once the window is full."""
    found = await ad_admin.search("老师")
    assert [person.username for person in found] == ["teacher"]
    assert found[0].groups == ("faculty",)  # a listing shows direct memberOf only
    by_number = await ad_admin.search("2023010001")
    assert [person.username for person in by_number] == ["student"]
    assert await ad_admin.search("*)(sAMAccountName=*") == []
    first, second = await ad_admin.search("", 0, 2), await ad_admin.search("", 2, 2)
    assert len(first) == 2 and len(second) == 2
    assert not {p.subject for p in first} & {p.subject for p in second}
    window = await ad_admin.search("", 0, 4)
    assert [p.subject for p in window] == [p.subject for p in first + second]  # a stable order


async def test_admin_update_memberships_and_forced_change(
    ad_directory: LdapDirectory, ad_admin: LdapAdminWriter, samba_dc: SambaDC,
) -> None:
    name = _new_name("upd")
    await ad_admin.create_person(name, password="update-pass-1", name="Before", title="讲师",
                                 groups=["students"])
    person = await ad_admin.update_person(name, name="After 之后", department="数学学院",
                                          title=None, email=f"{name}@example.edu")
    assert (person.name, person.department, person.title) == ("After 之后", "数学学院", None)
    assert person.email == f"{name}@example.edu"

    await ad_admin.add_member("faculty", name)
    assert (await ad_directory.find(name)).groups == ("faculty", "staff", "students")  # type: ignore[union-attr]
    await ad_admin.remove_member("students", name)
    assert (await ad_directory.find(name)).groups == ("faculty", "staff")  # type: ignore[union-attr]

    samba_dc.fail_binds(name, 2)
    assert (await ad_admin.account_state(name)).failures == 2  # badPwdCount
    await ad_admin.require_password_change(name)
    with pytest.raises(MustChangePassword):
        await ad_directory.authenticate(name, "update-pass-1")


def test_a_dc_that_cannot_start_fails_loudly(samba_dc: SambaDC) -> None:
    """The fixture's failure is an error naming the cause, never a skip: here a second DC finds
    the session's own on 389."""
    other = SambaDC()
    try:
        with pytest.raises(SambaDCError, match="already listens on 127.0.0.1:389"):
            other._serve()
    finally:
        other.stop()


async def test_the_global_catalog_port(samba_dc: SambaDC) -> None:
    """ldaps://...:3269 with the forest root as the base: the way to reach people of several
    domains; referrals stay off either way."""
    directory = LdapDirectory(samba_dc.settings(url=f"{samba_dc.url}:3269", user_base=BASE))
    try:
        teacher = await directory.authenticate("teacher", "teacher123")
        assert teacher.groups == ("faculty", "staff") and teacher.number == "T19990001"
        assert await directory.by_subject(teacher.subject) == teacher
    finally:
        await directory.close()


async def test_sign_in_with_the_user_principal_name_too(samba_dc: SambaDC) -> None:
    """README's filter for campuses whose people type name@domain: either name finds the one
    entry, and the person is the same (sAMAccountName as the login name, objectGUID as subject)."""
    either = "(&(objectClass=user)(|(sAMAccountName={username})(userPrincipalName={username})))"
    directory = LdapDirectory(samba_dc.settings(user_filter=either))
    try:
        by_upn = await directory.authenticate("Student@Example.edu", "student123")
        by_sam = await directory.authenticate("student", "student123")
        assert by_upn == by_sam and by_upn.username == "student"
        assert (await directory.locate("student@example.edu")).key == by_sam.subject  # type: ignore[union-attr]
    finally:
        await directory.close()
