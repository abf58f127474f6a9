"""The pure halves of directory/ldap_password.py, where no server can run in the tests: Active
Directory's password change (modlist, error codes) and the lockout-policy parsing."""

from __future__ import annotations

import ldap
import pytest

from directory.base import DirectoryUnavailable, InvalidCredentials, PasswordRejected
from directory.ldap_errors import cannot_verify_old, change_failure
from directory.ldap_password import (
    ad_change_modlist,
    ad_threshold,
    ppolicy_threshold,
    strictest,
)

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"


def test_ad_change_deletes_the_old_and_adds_the_new_value() -> None:
    modlist = ad_change_modlist("Old-pass-1", "Neu-Paß-密码")
    assert modlist == [
        (ldap.MOD_DELETE, "unicodePwd", ['"Old-pass-1"'.encode("utf-16-le")]),
        (ldap.MOD_ADD, "unicodePwd", ['"Neu-Paß-密码"'.encode("utf-16-le")]),
    ]
    assert modlist[1][2][0][:4] == b'"\x00N\x00'  # quoted, two bytes per character, little-endian


AD_COMPLEXITY = ("0000052D: Constraint violation - check_password_restrictions: the password "
                 "does not meet the complexity criteria!")
AD_WRONG_OLD = ("00000056: AtrErr: DSID-03190F80, #1:\n\t0: 00000056: DSID-03190F80, problem "
                "1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n")
AD_PLAINTEXT = "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0\n"


@pytest.mark.parametrize(("exc", "expected", "reason"), [
    (ldap.CONSTRAINT_VIOLATION({"desc": "Constraint violation", "info": AD_COMPLEXITY}),
     PasswordRejected, "quality"),
    (ldap.CONSTRAINT_VIOLATION({"desc": "Constraint violation", "info": AD_WRONG_OLD}),
     InvalidCredentials, None),
    (ldap.UNWILLING_TO_PERFORM({"desc": "Server is unwilling to perform", "info": AD_PLAINTEXT}),
     DirectoryUnavailable, None),
    # slapd that may not read the old password (`by self =w`): never "wrong password" (and so
    # never a count toward the lockout); PasswordChanger retries without it before this
    (ldap.UNWILLING_TO_PERFORM({"desc": "Server is unwilling to perform",
                                "info": "unwilling to verify old password"}),
     PasswordRejected, "not_allowed"),
    (ldap.CONSTRAINT_VIOLATION({"desc": "Constraint violation", "info": "Password is in history",
                                "ctrls": [(PPOLICY_OID, False, b"\x30\x03\x81\x01\x08")]}),
     PasswordRejected, "in_history"),
    (ldap.CONSTRAINT_VIOLATION({"desc": "Constraint violation", "info": "too young",
                                "ctrls": [(PPOLICY_OID, False, b"\x30\x03\x81\x01\x07")]}),
     PasswordRejected, "too_young"),
    (ldap.INSUFFICIENT_ACCESS({"desc": "Insufficient access"}), PasswordRejected, "not_allowed"),
    (ldap.SERVER_DOWN({"desc": "Can't contact LDAP server"}), DirectoryUnavailable, None),
])
def test_change_failures_become_the_error_the_person_should_see(
    exc: ldap.LDAPError, expected: type, reason: str | None,
) -> None:
    error = change_failure(exc)
    assert type(error) is expected
    if reason is not None:
        assert isinstance(error, PasswordRejected) and error.reason == reason


def test_only_slapds_refusal_to_verify_the_old_password_is_retried_without_it() -> None:
    unwilling = "Server is unwilling to perform"
    assert cannot_verify_old(ldap.UNWILLING_TO_PERFORM(
        {"desc": unwilling, "info": "unwilling to verify old password"}))
    assert cannot_verify_old(ldap.UNWILLING_TO_PERFORM(
        {"desc": unwilling, "info": b"unwilling to verify old password"}))
    assert not cannot_verify_old(ldap.UNWILLING_TO_PERFORM({"desc": unwilling, "info": AD_PLAINTEXT}))
    assert not cannot_verify_old(ldap.UNWILLING_TO_PERFORM({"desc": unwilling}))
    assert not cannot_verify_old(ldap.INSUFFICIENT_ACCESS(
        {"desc": "Insufficient access", "info": "unwilling to verify old password"}))


def test_ppolicy_thresholds_count_only_when_the_policy_locks() -> None:
    assert ppolicy_threshold({"pwdLockout": [b"TRUE"], "pwdMaxFailure": [b"5"]}) == 5
    assert ppolicy_threshold({"pwdlockout": [b"true"], "PWDMAXFAILURE": [b"3"]}) == 3
    assert ppolicy_threshold({"pwdLockout": [b"FALSE"], "pwdMaxFailure": [b"5"]}) is None
    assert ppolicy_threshold({"pwdLockout": [b"TRUE"], "pwdMaxFailure": [b"0"]}) is None
    assert ppolicy_threshold({"pwdLockout": [b"TRUE"], "pwdMaxFailure": [b"five"]}) is None
    assert ppolicy_threshold({"pwdMaxFailure": [b"5"]}) is None


def test_ad_thresholds_zero_means_never() -> None:
    assert ad_threshold({"lockoutThreshold": [b"10"]}) == 10
    assert ad_threshold({"lockoutThreshold": [b"0"]}) is None
    assert ad_threshold({"msDS-LockoutThreshold": [b"3"]}, "msDS-LockoutThreshold") == 3
    assert ad_threshold({}) is None


def test_the_strictest_known_threshold_wins() -> None:
    assert strictest([None, 5, 3, None, 10]) == 3
    assert strictest([None, None]) is None


async def test_the_local_directory_never_locks(local_idp) -> None:  # noqa: ANN001
    assert await local_idp.services.directory.lockout_threshold("student") is None
