"""Turn a failed or restricted LDAP bind into the directory's error types.

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
