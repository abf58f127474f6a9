"""Plain unit tests for what no server here can produce: Active Directory's error sub-codes and
objectGUIDs, and ppolicy controls decoded from their DER bytes (draft-behera §6.2)."""

from __future__ import annotations

import uuid

import ldap
import pytest

from directory.base import (
    AccountDisabled,
    AccountLocked,
    DirectoryUnavailable,
    InvalidCredentials,
    MustChangePassword,
    PasswordExpired,
)
from directory.ldap_errors import ad_subcode, bind_failure, decode_policy_tuples
from directory.ldap_profiles import Profile, guid_to_uuid, uuid_to_guid_filter

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"


def ad_error(code: str) -> ldap.INVALID_CREDENTIALS:
    return ldap.INVALID_CREDENTIALS(
        {
            "result": 49,
            "desc": "Invalid credentials",
            "info": "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
            f"data {code}, v4563",
            "ctrls": [],
        }
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("525", InvalidCredentials),
        ("52e", InvalidCredentials),
        ("530", AccountDisabled),
        ("531", AccountDisabled),
        ("532", PasswordExpired),
        ("533", AccountDisabled),
        ("701", AccountDisabled),
        ("773", MustChangePassword),
        ("775", AccountLocked),
    ],
)
def test_ad_subcodes(code: str, expected: type) -> None:
    error = bind_failure(ad_error(code))
    assert type(error) is expected
    assert code in (error.detail or "")


def test_ad_unknown_user_and_wrong_password_read_the_same() -> None:
    unknown, wrong = bind_failure(ad_error("525")), bind_failure(ad_error("52e"))
    assert str(unknown) == str(wrong) == "invalid username or password"


def test_ad_subcode_parsing() -> None:
    assert ad_subcode("... data 52E, v893") == "52e"
    assert ad_subcode(b"... data 775, v2580") == "775"
    assert ad_subcode("no code here") is None
    assert ad_subcode(None) is None
    # an unknown code is still just invalid credentials, with the code logged
    error = bind_failure(ad_error("999"))
    assert type(error) is InvalidCredentials


def test_plain_invalid_credentials_and_server_down() -> None:
    assert type(bind_failure(ldap.INVALID_CREDENTIALS({"desc": "x"}))) is InvalidCredentials
    assert type(bind_failure(ldap.SERVER_DOWN({"desc": "down"}))) is DirectoryUnavailable
    assert type(bind_failure(ldap.TIMEOUT())) is DirectoryUnavailable
    assert type(bind_failure(ldap.OTHER({"desc": "?"}))) is DirectoryUnavailable


@pytest.mark.parametrize(
    ("der", "expected"),
    [
        (b"\x30\x03\x81\x01\x00", PasswordExpired),
        (b"\x30\x03\x81\x01\x01", AccountLocked),
        (b"\x30\x03\x81\x01\x02", MustChangePassword),
    ],
)
def test_ppolicy_errors_from_the_exception_controls(der: bytes, expected: type) -> None:
    exc = ldap.INVALID_CREDENTIALS({"desc": "x", "ctrls": [(PPOLICY_OID, False, der)]})
    assert type(bind_failure(exc)) is expected


def test_ppolicy_warning_decodes() -> None:
    # warning [0] { timeBeforeExpiration [0] 3600 }
    control = decode_policy_tuples([(PPOLICY_OID, False, b"\x30\x06\xa0\x04\x80\x02\x0e\x10")])
    assert control is not None
    assert control.timeBeforeExpiration == 3600
    assert control.error is None
    assert decode_policy_tuples([(PPOLICY_OID, False, b"garbage")]) is None
    assert decode_policy_tuples(None) is None


def test_object_guid_round_trip() -> None:
    subject = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    raw = uuid.UUID(subject).bytes_le
    assert raw[:4] == b"\xe0\x04\x25\x3f"  # the first fields are little-endian on the wire
    assert guid_to_uuid(raw) == subject
    assert uuid_to_guid_filter(subject) == "".join(f"\\{b:02x}" for b in raw)
    with pytest.raises(ValueError):
        uuid_to_guid_filter("*)(objectClass=*")


def test_active_directory_profile_maps_an_entry() -> None:
    profile = Profile.build("activedirectory", {})
    raw = uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301").bytes_le
    entry = {
        "objectGUID": [raw],
        "sAMAccountName": [b"LiMing"],
        "displayName": ["李明".encode()],
        "userPrincipalName": [b"liming@example.edu"],
        "department": ["计算机学院".encode()],
        "employeeID": [b"T2001"],
        "userAccountControl": [b"514"],  # NORMAL_ACCOUNT | ACCOUNTDISABLE
    }
    person = profile.person("CN=Li Ming,OU=Staff,DC=example,DC=edu", entry, typed="liming")
    assert person is not None
    assert person.subject == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert person.username == "LiMing"
    assert person.name == "李明"
    assert person.principal_name == "liming@example.edu"
    assert person.department == "计算机学院"
    assert person.number == "T2001"
    assert person.disabled is True
    entry["userAccountControl"] = [b"512"]
    assert profile.person("CN=x", entry).disabled is False  # type: ignore[union-attr]
    assert profile.subject_filter(person.subject).startswith("(objectGUID=\\e0\\04")
    assert profile.subject_filter("not-a-uuid") == "(!(objectClass=*))"
    assert "memberOf" in profile.attributes
