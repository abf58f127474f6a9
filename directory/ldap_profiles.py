"""Which LDAP attribute holds which Person field, per directory profile, and the mapping itself.

Each field lists the attributes tried in order; the `attributes` setting replaces a field's list
with one attribute of the operator's choosing. Operational attributes (entryUUID, memberOf) are
only returned when asked for by name, so the attribute list is always explicit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from directory.base import Person

Entry = Mapping[str, list[bytes]]

OPENLDAP: dict[str, tuple[str, ...]] = {
    "subject": ("entryUUID", "eduPersonUniqueId"),
    "username": ("uid",),
    "name": ("cn", "displayName"),
    "given_name": ("givenName",),
    "family_name": ("sn",),
    "email": ("mail",),
    "phone": ("telephoneNumber", "mobile"),
    "number": ("employeeNumber",),
    "department": ("ou", "departmentNumber"),
    "title": ("title",),
    "affiliations": ("eduPersonAffiliation",),
    "principal_name": ("eduPersonPrincipalName",),
    "entitlements": ("eduPersonEntitlement",),
    "member_of": ("memberOf",),
    "account_control": (),
    # ppolicy's administrative lock: "000001010000Z" locks until an admin unlocks (draft-behera
    # ppolicy §5.3.3); operational, so it is only returned when asked for by name
    "account_locked": ("pwdAccountLockedTime",),
}

ACTIVE_DIRECTORY: dict[str, tuple[str, ...]] = {
    "subject": ("objectGUID",),
    "username": ("sAMAccountName",),
    "name": ("displayName", "cn"),
    "given_name": ("givenName",),
    "family_name": ("sn",),
    "email": ("mail",),
    "phone": ("telephoneNumber", "mobile"),
    "number": ("employeeID", "employeeNumber"),
    "department": ("department",),
    "title": ("title",),
    "affiliations": (),
    "principal_name": ("userPrincipalName",),
    "entitlements": (),
    "member_of": ("memberOf",),
    "account_control": ("userAccountControl",),
    "account_locked": (),
}

PROFILES = {"openldap": OPENLDAP, "activedirectory": ACTIVE_DIRECTORY}
MULTI_VALUED = frozenset({"affiliations", "entitlements"})
ACCOUNTDISABLE = 0x2  # userAccountControl bit (MS-ADTS 2.2.16)
PERMANENT_LOCK = "000001010000Z"  # pwdAccountLockedTime of an administratively disabled account


def guid_to_uuid(raw: bytes) -> str:
    """AD's objectGUID (16 bytes, first three fields little-endian) as the canonical UUID."""
    return str(uuid.UUID(bytes_le=raw))


def uuid_to_guid_filter(subject: str) -> str:
    """The RFC 4515 escaped form of a UUID's objectGUID bytes, every byte as \\hh."""
    raw = uuid.UUID(subject).bytes_le
    return "".join(f"\\{byte:02x}" for byte in raw)


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("utf-8", "replace")


@dataclass(frozen=True)
class Profile:
    """The attribute map in force: a profile's defaults with the operator's overrides."""

    kind: str
    fields: dict[str, tuple[str, ...]]

    @classmethod
    def build(cls, kind: str, overrides: Mapping[str, str]) -> Profile:
        fields = dict(PROFILES[kind])
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise ValueError(
                f"IDP_LDAP_ATTRIBUTES: unknown person field(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(fields))}"
            )
        for field_name, attribute in overrides.items():
            fields[field_name] = (attribute,) if attribute else ()
        return cls(kind=kind, fields=fields)

    @property
    def attributes(self) -> list[str]:
        """Every attribute to request, operational ones by name."""
        names: list[str] = []
        for attrs in self.fields.values():
            names.extend(a for a in attrs if a not in names)
        return names

    @property
    def binary_subject(self) -> bool:
        return self.fields["subject"] == ("objectGUID",)

    def _values(self, entry: Entry, field_name: str) -> list[bytes]:
        lowered = {key.lower(): values for key, values in entry.items()}
        for attribute in self.fields[field_name]:
            values = lowered.get(attribute.lower())
            if values:
                return values
        return []

    def first(self, entry: Entry, field_name: str) -> str | None:
        values = self._values(entry, field_name)
        return _text(values[0]) if values else None

    def all(self, entry: Entry, field_name: str) -> tuple[str, ...]:
        return tuple(_text(value) for value in self._values(entry, field_name))

    def subject(self, entry: Entry) -> str | None:
        lowered = {key.lower(): values for key, values in entry.items()}
        for attribute in self.fields["subject"]:
            values = lowered.get(attribute.lower())
            if values:
                if attribute.lower() == "objectguid":
                    return guid_to_uuid(values[0])
                return _text(values[0])
        return None

    def subject_filter(self, subject: str) -> str:
        """A filter matching `subject` on any subject attribute; the value escaped (RFC 4515)."""
        from ldap.filter import escape_filter_chars

        parts = []
        for attribute in self.fields["subject"]:
            if attribute.lower() == "objectguid":
                try:
                    parts.append(f"(objectGUID={uuid_to_guid_filter(subject)})")
                except ValueError:
                    continue  # not a UUID: cannot be an objectGUID
            else:
                parts.append(f"({attribute}={escape_filter_chars(subject)})")
        if not parts:
            return "(!(objectClass=*))"
        return parts[0] if len(parts) == 1 else "(|" + "".join(parts) + ")"

    def username(self, entry: Entry, typed: str | None) -> str | None:
        """The login name as the directory spells it; of several values, the one typed."""
        names = self.all(entry, "username")
        if typed is not None:
            for name in names:
                if name.casefold() == typed.casefold():
                    return name
        return names[0] if names else None

    def disabled(self, entry: Entry) -> bool:
        if self.first(entry, "account_locked") == PERMANENT_LOCK:
            return True
        value = self.first(entry, "account_control")
        if value is None:
            return False
        try:
            return bool(int(value) & ACCOUNTDISABLE)
        except ValueError:
            return False

    def member_of(self, entry: Entry) -> list[str]:
        return list(self.all(entry, "member_of"))

    def person(
        self, dn: str, entry: Entry, *, typed: str | None = None, groups: Iterable[str] = ()
    ) -> Person | None:
        """The Person of an entry, or None when it lacks a subject or a login name."""
        subject = self.subject(entry)
        username = self.username(entry, typed)
        if not subject or not username:
            return None
        return Person(
            subject=subject,
            username=username,
            name=self.first(entry, "name"),
            given_name=self.first(entry, "given_name"),
            family_name=self.first(entry, "family_name"),
            email=self.first(entry, "email"),
            phone=self.first(entry, "phone"),
            number=self.first(entry, "number"),
            department=self.first(entry, "department"),
            title=self.first(entry, "title"),
            affiliations=self.all(entry, "affiliations"),
            principal_name=self.first(entry, "principal_name"),
            entitlements=self.all(entry, "entitlements"),
            groups=tuple(groups),
            dn=dn,
            disabled=self.disabled(entry),
        )
