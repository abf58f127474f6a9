"""Pure parts of the admin work, tested without a server: the Active Directory and OpenLDAP
modlists (no AD can run here), LDAP write errors, field checks, CSV row checks (the charts:
test_console_charts.py)."""

from __future__ import annotations

import ldap
import pytest

from directory.base import AlreadyExists, DirectoryUnavailable, NoSuchEntry
from directory.config import LdapConfig
from directory.ldap_admin import write_failure
from directory.ldap_admin_modlists import (
    PERMANENT_LOCK,
    ad_password_value,
    ad_state,
    changes_for,
    new_entry,
    openldap_state,
)
from directory.ldap_people_search import people_filter
from directory.ldap_profiles import Profile
from directory.writes import WriteRejected
from idp.admin.service_fields import FieldErrors, clean_fields, clean_username, generate_password
from idp.admin.service_import_rows import decode, parse

AD = Profile.build("activedirectory", {})
OPENLDAP = Profile.build("openldap", {})
AD_BASE = "OU=Students,DC=campus,DC=example,DC=edu"


# --- Active Directory ----------------------------------------------------------------------


def test_ad_password_is_quoted_utf16le() -> None:
    assert ad_password_value("Pässwort-1") == '"Pässwort-1"'.encode("utf-16-le")
    assert ad_password_value("x")[:2] == b'"\x00'


def test_ad_disable_and_enable_flip_only_bit_2() -> None:
    normal = {"userAccountControl": [b"66048"]}  # NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    assert changes_for("disable", True, entry=normal) == [
        (ldap.MOD_REPLACE, "userAccountControl", [b"66050"])]
    assert changes_for("disable", True, entry={"userAccountControl": [b"66050"]}) == []
    assert changes_for("enable", True, entry={"userAccountControl": [b"514"]}) == [
        (ldap.MOD_REPLACE, "userAccountControl", [b"512"])]


def test_ad_unlock_force_change_and_fresh_password() -> None:
    assert changes_for("unlock", True) == [(ldap.MOD_REPLACE, "lockoutTime", [b"0"])]
    assert changes_for("force_change", True) == [(ldap.MOD_REPLACE, "pwdLastSet", [b"0"])]
    assert changes_for("no_change", True) == [(ldap.MOD_REPLACE, "pwdLastSet", [b"-1"])]


def test_ad_state() -> None:
    state = ad_state({"userAccountControl": [b"514"], "lockoutTime": [b"133000000000000000"],
                      "pwdLastSet": [b"0"], "badPwdCount": [b"3"]})
    assert (state.disabled, state.locked, state.must_change, state.failures) == (True, True, True, 3)
    fine = ad_state({"userAccountControl": [b"512"], "lockoutTime": [b"0"],
                     "pwdLastSet": [b"133000000000000000"]})
    assert (fine.disabled, fine.locked, fine.must_change) == (False, False, False)


def test_ad_new_entry_escapes_the_dn_and_starts_disabled() -> None:
    dn, attributes = new_entry(AD, AD_BASE, "liuyang", {"name": "Liu, Yang", "email": "ly@example.edu"},
                               active_directory=True)
    assert dn == rf"CN=Liu\, Yang,{AD_BASE}"
    assert ldap.dn.str2dn(dn)[0][0][1] == "Liu, Yang"
    values = dict(attributes)
    assert values["objectClass"] == [b"top", b"person", b"organizationalPerson", b"user"]
    assert values["sAMAccountName"] == [b"liuyang"] and values["mail"] == [b"ly@example.edu"]
    assert values["userAccountControl"] == [b"514"]
    assert "unicodePwd" not in values  # set afterwards, over LDAPS only
    with pytest.raises(ValueError, match="hash"):
        new_entry(AD, AD_BASE, "x", {}, active_directory=True, password_hash="{SSHA}abc")


# --- OpenLDAP ----------------------------------------------------------------------------------


def test_openldap_disable_is_a_permanent_ppolicy_lock() -> None:
    assert changes_for("disable", False, entry={}) == [
        (ldap.MOD_REPLACE, "pwdAccountLockedTime", [PERMANENT_LOCK])]
    locked_for_good = {"pwdAccountLockedTime": [PERMANENT_LOCK]}
    assert changes_for("disable", False, entry=locked_for_good) == []
    assert changes_for("enable", False, entry=locked_for_good) == [
        (ldap.MOD_DELETE, "pwdAccountLockedTime", None)]
    # unlocking a disabled account must not enable it; a temporary lock is lifted
    assert changes_for("unlock", False, entry=locked_for_good) == []
    assert changes_for("unlock", False, entry={"pwdAccountLockedTime": [b"20250901080000Z"]}) == [
        (ldap.MOD_DELETE, "pwdAccountLockedTime", None)]
    assert changes_for("force_change", False) == [(ldap.MOD_REPLACE, "pwdReset", [b"TRUE"])]


def test_openldap_state() -> None:
    state = openldap_state({"pwdAccountLockedTime": [b"20250901080000Z"], "pwdReset": [b"TRUE"],
                            "pwdFailureTime": [b"1", b"2"]})
    assert (state.disabled, state.locked, state.must_change, state.failures) == (False, True, True, 2)
    assert openldap_state({"pwdAccountLockedTime": [PERMANENT_LOCK]}).disabled is True


def test_openldap_entry_and_updates() -> None:
    dn, attributes = new_entry(OPENLDAP, "ou=people,dc=example,dc=edu", "a,b+c",
                               {"name": "张三", "affiliations": ["student"]}, active_directory=False,
                               password_hash="{SSHA}abcd")
    assert dn == r"uid=a\,b\+c,ou=people,dc=example,dc=edu"
    values = dict(attributes)
    assert values["objectClass"] == [b"inetOrgPerson", b"eduPerson"]
    assert values["cn"] == values["sn"] == ["张三".encode()]
    assert values["userPassword"] == [b"{SSHA}abcd"]
    plain = dict(new_entry(OPENLDAP, "ou=p", "x", {}, active_directory=False)[1])
    assert plain["objectClass"] == [b"inetOrgPerson"]  # eduPerson only when it has a value

    entry = {"mail": [b"old@example.edu"], "sn": [b"Zhang"], "cn": [b"Zhang San"]}
    assert changes_for("update", False, profile=OPENLDAP, entry=entry,
                       fields={"email": "old@example.edu"}) == []
    assert changes_for("update", False, profile=OPENLDAP, entry=entry,
                       fields={"email": None, "title": "教授"}) == [
        (ldap.MOD_DELETE, "mail", None), (ldap.MOD_REPLACE, "title", ["教授".encode()])]
    with pytest.raises(ValueError, match="family_name"):
        changes_for("update", False, profile=OPENLDAP, entry=entry, fields={"family_name": ""})
    with pytest.raises(ValueError, match="unknown"):
        changes_for("update", False, profile=OPENLDAP, entry=entry, fields={"uid": "x"})


def test_people_search_filter_escapes_the_query_once() -> None:
    config = LdapConfig(user_base="dc=x", user_filter="(&(objectClass=person)(uid={username}))")
    everyone = "(&(objectClass=person)(uid=*))"
    assert people_filter(config, OPENLDAP, "  \x00 ") == everyone
    escaped = "a\\2a\\28b\\29\\5c"  # RFC 4515: * ( ) \ as hex escapes; NUL dropped
    assert people_filter(config, OPENLDAP, " a*(b)\\\x00") == (
        f"(&{everyone}(|(uid=*{escaped}*)(cn=*{escaped}*)(displayName=*{escaped}*)"
        f"(mail=*{escaped}*)(employeeNumber=*{escaped}*)))")


def test_write_failures_name_what_to_do() -> None:
    assert isinstance(write_failure(ldap.ALREADY_EXISTS({}), "create"), AlreadyExists)
    assert isinstance(write_failure(ldap.NO_SUCH_OBJECT({}), "modify"), NoSuchEntry)
    rejected = write_failure(ldap.CONSTRAINT_VIOLATION({"info": "Password fails quality checking"}),
                             "set the password")
    assert isinstance(rejected, WriteRejected) and "quality" in str(rejected)
    access = write_failure(ldap.INSUFFICIENT_ACCESS({"info": "no write access"}), "create")
    assert isinstance(access, DirectoryUnavailable) and "admin account" in str(access)
    assert isinstance(write_failure(ldap.SERVER_DOWN({}), "create"), DirectoryUnavailable)


# --- fields and rows -------------------------------------------------------------------------


def test_usernames_and_fields() -> None:
    assert clean_username(" 张三 ") == "张三"
    for bad in ("", "a b", "-rf", "x" * 65, "a/b", "a\x00"):
        with pytest.raises(ValueError):
            clean_username(bad)
    with pytest.raises(FieldErrors) as caught:
        clean_fields({"email": "nope", "phone": "call me", "affiliations": ["wizard"], "uid": "x"})
    assert set(caught.value.errors) == {"email", "phone", "affiliations", "uid"}
    assert clean_fields({"affiliations": "Student; member"}, partial=True) == {
        "affiliations": ["student", "member"]}
    password = generate_password()
    assert len(password) == 16 and not set(password) & set("0O1lI")


def _parse(text: str):  # type: ignore[no-untyped-def]
    return parse(text, known_groups={"students"}, hash_ok=lambda value: value.startswith("{"))


def test_rows_are_checked_with_line_numbers() -> None:
    assert [str(e) for e in _parse("").errors] == ["line 1: the file is empty"]
    assert "unknown column" in str(_parse("username,shoe_size\n").errors[0])
    assert "username column is required" in str(_parse("name\nx\n").errors[0])
    assert "no rows" in str(_parse("username\n\n").errors[0])
    plan = _parse('username,name,password,password_hash\n"a",x,Secret-123,{SSHA}x\n'
                  '"b","multi\nline",,not-a-hash\nc,ok\n')
    # row b spans lines 3-4 (a quoted newline, refused in a name); row c is on line 5
    assert [(e.line, e.column) for e in plan.errors] == [(2, "password"), (3, "name"),
                                                        (3, "password_hash"), (5, None)]
    assert plan.rows == []  # nothing goes through while any row is wrong
    fine = _parse("Username,Name\n\n a ,张三\n")
    assert [(r.line, r.username, r.fields) for r in fine.rows] == [(3, "a", {"name": "张三"})]


def test_files_must_be_utf8() -> None:
    assert decode("\ufeffusername\n".encode()) == "username\n"
    with pytest.raises(ValueError, match="line 2.*UTF-8"):
        decode("username\n张三\n".encode("gb18030"))
