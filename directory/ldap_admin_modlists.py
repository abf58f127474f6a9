"""The entries and modlists the LDAP admin writer sends, as pure functions (no connection), so the
Active Directory shapes are unit-tested even though no AD can run in the tests.

OpenLDAP state lives in ppolicy's operational attributes (draft-behera-ldap-password-policy
§5.3): pwdAccountLockedTime ("000001010000Z" = locked for good, our "disabled"; any other time =
locked after failures), pwdReset (must change), pwdFailureTime (failures counted). Active
Directory keeps it in userAccountControl (bit 2 ACCOUNTDISABLE, MS-ADTS 2.2.16), lockoutTime
(non-zero = locked) and pwdLastSet (0 = must change at next logon).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ldap
import ldap.dn

from directory.ldap_profiles import ACCOUNTDISABLE, Profile
from directory.writes import MULTI_VALUED_FIELDS, WRITABLE_FIELDS, AccountState

Entry = Mapping[str, list[bytes]]
Modlist = list[tuple[int, str, list[bytes] | None]]

PERMANENT_LOCK = b"000001010000Z"
OPENLDAP_STATE_ATTRIBUTES = ("pwdAccountLockedTime", "pwdReset", "pwdFailureTime")
AD_STATE_ATTRIBUTES = ("userAccountControl", "lockoutTime", "pwdLastSet", "badPwdCount")
AD_NORMAL_ACCOUNT = 0x200
EDUPERSON_PREFIX = "eduperson"
REQUIRED_ATTRIBUTES = frozenset({"cn", "sn"})  # MUST of person: a removal is always refused


def _values(entry: Entry, attribute: str) -> list[bytes]:
    lowered = attribute.lower()
    for key, values in entry.items():
        if key.lower() == lowered:
            return list(values)
    return []


def _int(entry: Entry, attribute: str, default: int = 0) -> int:
    values = _values(entry, attribute)
    try:
        return int(values[0]) if values else default
    except ValueError:
        return default


def openldap_state(entry: Entry) -> AccountState:
    locks = _values(entry, "pwdAccountLockedTime")
    return AccountState(
        disabled=PERMANENT_LOCK in locks,
        locked=bool(locks) and PERMANENT_LOCK not in locks,
        must_change=any(v.upper() == b"TRUE" for v in _values(entry, "pwdReset")),
        failures=len(_values(entry, "pwdFailureTime")),
    )


def ad_state(entry: Entry) -> AccountState:
    return AccountState(
        disabled=bool(_int(entry, "userAccountControl", AD_NORMAL_ACCOUNT) & ACCOUNTDISABLE),
        locked=_int(entry, "lockoutTime") != 0,
        must_change=bool(_values(entry, "pwdLastSet")) and _int(entry, "pwdLastSet", -1) == 0,
        failures=_int(entry, "badPwdCount"),
    )


def ad_password_value(password: str) -> bytes:
    """unicodePwd's value: the password in double quotes, UTF-16LE (MS-ADTS 3.1.1.3.1.5.1)."""
    return f'"{password}"'.encode("utf-16-le")


def _attribute(profile: Profile, field_name: str) -> str:
    attributes = profile.fields.get(field_name) or ()
    if not attributes:
        raise ValueError(f"the {profile.kind} profile maps no attribute for {field_name!r}")
    return attributes[0]


def _wanted(field_name: str, value: Any) -> list[bytes]:
    """The attribute values a field's new value stands for ([] = remove the attribute)."""
    if value is None:
        return []
    if field_name in MULTI_VALUED_FIELDS:
        if isinstance(value, str):
            raise ValueError(f"{field_name} is a list of values")
        items = [str(item).strip() for item in value]
        return [item.encode("utf-8") for item in dict.fromkeys(items) if item]
    text = str(value).strip()
    return [text.encode("utf-8")] if text else []


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - set(WRITABLE_FIELDS))
    if unknown:
        raise ValueError(f"unknown person field(s): {', '.join(unknown)}")


def new_entry(
    profile: Profile, user_base: str, username: str, fields: Mapping[str, Any], *,
    active_directory: bool, password_hash: str | None = None,
) -> tuple[str, list[tuple[str, list[bytes]]]]:
    """DN and attributes of a new person. The DN is built with RFC 4514 escaping
    (LDAP-PITFALLS 3); the password itself is set afterwards (Password Modify / unicodePwd)."""
    _check_fields(fields)
    name = str(fields.get("name") or "").strip() or username
    attributes: dict[str, list[bytes]] = {}
    for field_name, value in fields.items():
        values = _wanted(field_name, value)
        if values:
            attributes[_attribute(profile, field_name)] = values
    login_attribute = _attribute(profile, "username")
    attributes[login_attribute] = [username.encode("utf-8")]
    if active_directory:
        if password_hash is not None:
            raise ValueError("Active Directory cannot take a password hash: give a password")
        dn = f"CN={ldap.dn.escape_dn_chars(name)},{user_base}"
        classes = [b"top", b"person", b"organizationalPerson", b"user"]
        # created disabled; enabled once its password is set (AD refuses an enabled account
        # without a password where the domain policy requires one)
        attributes["userAccountControl"] = [str(AD_NORMAL_ACCOUNT | ACCOUNTDISABLE).encode()]
        attributes.setdefault("displayName", [name.encode("utf-8")])
    else:
        dn = f"{login_attribute}={ldap.dn.escape_dn_chars(username)},{user_base}"
        classes = [b"inetOrgPerson"]
        if any(key.lower().startswith(EDUPERSON_PREFIX) for key in attributes):
            classes.append(b"eduPerson")
        attributes.setdefault("cn", [name.encode("utf-8")])
        family = str(fields.get("family_name") or "").strip() or name
        attributes.setdefault("sn", [family.encode("utf-8")])  # sn and cn are MUST of person
        if password_hash is not None:
            attributes["userPassword"] = [password_hash.encode("utf-8")]
    return dn, [("objectClass", classes), *attributes.items()]


def _update(profile: Profile, entry: Entry, fields: Mapping[str, Any]) -> Modlist:
    _check_fields(fields)
    modlist: Modlist = []
    for field_name, value in fields.items():
        attribute = _attribute(profile, field_name)
        wanted = _wanted(field_name, value)
        current = _values(entry, attribute)
        if wanted == current:
            continue
        if not wanted:
            if attribute.lower() in REQUIRED_ATTRIBUTES:
                raise ValueError(f"{field_name} cannot be empty: the directory requires {attribute}")
            if current:
                modlist.append((ldap.MOD_DELETE, attribute, None))
        else:
            modlist.append((ldap.MOD_REPLACE, attribute, wanted))
    return modlist


def changes_for(
    action: str, active_directory: bool, *, entry: Entry | None = None,
    profile: Profile | None = None, fields: Mapping[str, Any] | None = None,
) -> Modlist:
    """The modlist of an admin action on a person whose current `entry` was read (with the
    state attributes) where the action depends on it. An empty list means nothing to change."""
    entry = entry or {}
    if action == "update":
        assert profile is not None
        return _update(profile, entry, fields or {})
    if active_directory:
        return _ad_changes(action, entry)
    locks = _values(entry, "pwdAccountLockedTime")
    if action == "disable":
        return [] if locks == [PERMANENT_LOCK] else [
            (ldap.MOD_REPLACE, "pwdAccountLockedTime", [PERMANENT_LOCK])]
    if action == "enable":
        return [(ldap.MOD_DELETE, "pwdAccountLockedTime", None)] if locks else []
    if action == "unlock":
        # a permanent lock is a disabled account: unlocking must not enable it
        return [(ldap.MOD_DELETE, "pwdAccountLockedTime", None)] if locks and (
            PERMANENT_LOCK not in locks) else []
    if action == "force_change":
        return [(ldap.MOD_REPLACE, "pwdReset", [b"TRUE"])]
    if action == "no_change":
        return [(ldap.MOD_DELETE, "pwdReset", None)]
    raise ValueError(f"unknown action {action!r}")


def _ad_changes(action: str, entry: Entry) -> Modlist:
    control = _int(entry, "userAccountControl", AD_NORMAL_ACCOUNT)
    if action in ("disable", "enable"):
        wanted = control | ACCOUNTDISABLE if action == "disable" else control & ~ACCOUNTDISABLE
        if wanted == control and _values(entry, "userAccountControl"):
            return []
        return [(ldap.MOD_REPLACE, "userAccountControl", [str(wanted).encode()])]
    if action == "unlock":
        return [(ldap.MOD_REPLACE, "lockoutTime", [b"0"])]
    if action == "force_change":
        return [(ldap.MOD_REPLACE, "pwdLastSet", [b"0"])]
    if action == "no_change":
        # -1 sets pwdLastSet to "now": the password counts as freshly chosen
        return [(ldap.MOD_REPLACE, "pwdLastSet", [b"-1"])]
    raise ValueError(f"unknown action {action!r}")
