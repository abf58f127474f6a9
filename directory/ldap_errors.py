"""Turn a failed or restricted LDAP bind, or a refused password change, into the directory's
error types.

Two sources of truth, tried in this order:
- the Password Policy response control (draft-behera-ldap-password-policy §6.2), which OpenLDAP's
  ppolicy overlay returns when the bind asked for it: 0 passwordExpired, 1 accountLocked,
  2 changeAfterReset (LDAP-PITFALLS 8);
- Active Directory's sub-code inside the diagnostic message, "… data 52e, v4563"
  (LDAP-PITFALLS 9). The raw code is kept in the error's `detail` for logs and the audit trail.
"""

from __future__ import annotations

import re
from typing import Any

import ldap
from ldap.controls import DecodeControlTuples
from ldap.controls.ppolicy import PasswordPolicyControl

from directory.base import (
    AccountDisabled,
    AccountLocked,
    DirectoryError,
    DirectoryUnavailable,
    InvalidCredentials,
    MustChangePassword,
    PasswordExpired,
    PasswordRejected,
)

PPOLICY_ERRORS: dict[int, type[DirectoryError]] = {
    0: PasswordExpired,
    1: AccountLocked,
    2: MustChangePassword,
}

# AD sub-codes of LDAP_INVALID_CREDENTIALS (49); 525 and 52e must look the same to the person
AD_SUBCODES: dict[str, tuple[type[DirectoryError], str | None]] = {
    "525": (InvalidCredentials, None),  # no such user
    "52e": (InvalidCredentials, None),  # wrong password
    "530": (AccountDisabled, "logon not permitted at this time"),
    "531": (AccountDisabled, "logon not permitted from this workstation"),
    "532": (PasswordExpired, None),
    "533": (AccountDisabled, None),
    "701": (AccountDisabled, "account expired"),
    "773": (MustChangePassword, None),
    "775": (AccountLocked, None),
}

# ppolicy response errors of a password change (draft-behera §6.2) -> PasswordRejected.reason
PPOLICY_CHANGE_ERRORS: dict[int, str] = {
    3: "not_allowed",  # passwordModNotAllowed
    4: "not_allowed",  # mustSupplyOldPassword (pwdSafeModify, yet the ACL hides it from slapd)
    5: "quality",  # insufficientPasswordQuality
    6: "too_short",  # passwordTooShort
    7: "too_young",  # passwordTooYoung
    8: "in_history",  # passwordInHistory
}
# Win32 codes that lead AD's diagnostic message, e.g. "0000052D: Constraint violation - ..."
AD_PASSWORD_RESTRICTION = "0000052d"  # ERROR_PASSWORD_RESTRICTION: length, complexity, history, age
AD_INVALID_PASSWORD = "00000056"  # ERROR_INVALID_PASSWORD: the old password is wrong
AD_NEEDS_ENCRYPTION = "0000001f"  # unicodePwd over a connection that is not encrypted
_AD_LEADING_CODE = re.compile(r"^\s*([0-9A-Fa-f]{8}):")

_AD_DATA = re.compile(r"\bdata ([0-9a-fA-F]{3,8})\b")

# errors that mean the server (or the way to it) is gone, not the person's fault
CONNECTION_ERRORS: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.TIMELIMIT_EXCEEDED,
    ldap.CONNECT_ERROR,
    ldap.BUSY,
    ldap.UNAVAILABLE,
)


def error_info(exc: ldap.LDAPError) -> dict[str, Any]:
    """The dict python-ldap puts in args[0] (desc, info, result, ctrls), or {} if absent."""
    if exc.args and isinstance(exc.args[0], dict):
        return exc.args[0]
    return {}


def password_policy(controls: list[Any]) -> PasswordPolicyControl | None:
    """The decoded ppolicy response control among already-decoded response controls."""
    for control in controls:
        if isinstance(control, PasswordPolicyControl):
            return control
    return None


def decode_policy_tuples(raw: list[tuple[str, bool, bytes]] | None) -> PasswordPolicyControl | None:
    """Decode the raw (oid, criticality, value) tuples python-ldap leaves on an exception."""
    if not raw:
        return None
    try:
        return password_policy(DecodeControlTuples(raw))
    except Exception:  # noqa: BLE001 - a malformed control must not hide the bind failure
        return None


def ad_subcode(info: object) -> str | None:
    """The lower-case hex sub-code in an AD diagnostic message, e.g. "52e", or None."""
    if isinstance(info, bytes):
        info = info.decode("utf-8", "replace")
    if not isinstance(info, str):
        return None
    match = _AD_DATA.search(info)
    return match.group(1).lower() if match else None


def from_ad_info(info: object) -> DirectoryError | None:
    """The error an AD diagnostic message stands for, or None if it carries no known code."""
    code = ad_subcode(info)
    if code is None or code not in AD_SUBCODES:
        return None
    error_type, message = AD_SUBCODES[code]
    if error_type is InvalidCredentials:
        message = None  # same message whether the user exists or not
    return error_type(message, detail=f"AD data {code}")


def from_policy(control: PasswordPolicyControl | None) -> DirectoryError | None:
    if control is None or control.error is None:
        return None
    error_type = PPOLICY_ERRORS.get(control.error)
    if error_type is None:
        return None
    return error_type(detail=f"ppolicy error {control.error}")


def bind_failure(exc: ldap.LDAPError) -> DirectoryError:
    """Map the exception of a user's bind to the error the person (or the operator) sees."""
    info = error_info(exc)
    if isinstance(exc, CONNECTION_ERRORS):
        return DirectoryUnavailable(detail=f"{type(exc).__name__}: {info.get('desc', exc)}")
    if isinstance(exc, ldap.INVALID_CREDENTIALS):
        mapped = from_policy(decode_policy_tuples(info.get("ctrls"))) or from_ad_info(info.get("info"))
        if mapped is not None:
            return mapped
        return InvalidCredentials(detail=str(info.get("info") or "invalid credentials"))
    if isinstance(exc, ldap.UNWILLING_TO_PERFORM | ldap.INAPPROPRIATE_AUTH):
        # e.g. a disabled account on some servers, or an entry without a password
        return InvalidCredentials(detail=f"{type(exc).__name__}: {info.get('info', '')}")
    return DirectoryUnavailable(detail=f"{type(exc).__name__}: {info.get('desc', exc)}")


def ad_win32_code(info: object) -> str | None:
    if isinstance(info, bytes):
        info = info.decode("utf-8", "replace")
    match = _AD_LEADING_CODE.match(info) if isinstance(info, str) else None
    return match.group(1).lower() if match else None


def cannot_verify_old(exc: ldap.LDAPError) -> bool:
    """slapd's refusal to check the old password of a Password Modify: err=53 with the text
    "unwilling to verify old password" (servers/slapd/passwd.c), and nothing else."""
    text = error_info(exc).get("info") or ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return isinstance(exc, ldap.UNWILLING_TO_PERFORM) and "unwilling to verify old password" in text


def change_failure(exc: ldap.LDAPError) -> DirectoryError:
    """The error of a refused Password Modify or unicodePwd change, as the person should hear it."""
    info = error_info(exc)
    text = str(info.get("info") or info.get("desc") or type(exc).__name__)
    if isinstance(exc, CONNECTION_ERRORS):
        return DirectoryUnavailable(detail=f"password change: {text}")
    control = decode_policy_tuples(info.get("ctrls"))
    if control is not None and control.error in PPOLICY_CHANGE_ERRORS:
        return PasswordRejected(PPOLICY_CHANGE_ERRORS[control.error], detail=text)
    code = ad_win32_code(info.get("info"))
    if code == AD_INVALID_PASSWORD:
        # AD checks the old value inside the modify itself, with no bind before it
        return InvalidCredentials(detail=f"old password refused: {text}")
    if code == AD_NEEDS_ENCRYPTION:
        return DirectoryUnavailable(detail="Active Directory needs LDAPS or StartTLS for passwords")
    if code == AD_PASSWORD_RESTRICTION or isinstance(exc, ldap.CONSTRAINT_VIOLATION):
        return PasswordRejected("quality", detail=text)
    if isinstance(exc, ldap.UNWILLING_TO_PERFORM | ldap.INSUFFICIENT_ACCESS):
        return PasswordRejected("not_allowed", detail=text)
    return DirectoryUnavailable(detail=f"password change: {type(exc).__name__}: {text}")
