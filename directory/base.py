"""The campus directory seam: who people are, and whether a password is theirs.

The directory knows nothing of OAuth. Like dex's connectors, `authenticate` either returns the
`Person` or raises one of the errors below: the person's fault (InvalidCredentials and its
account-state relatives) or ours (DirectoryUnavailable, shown as a 503). It never returns a
boolean that a caller could forget to check.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class PasswordNotice:
    """Non-fatal password policy news from a successful bind (ppolicy response control)."""

    expires_in: int | None = None  # seconds before the password expires (timeBeforeExpiration)
    grace_logins: int | None = None  # grace binds left after expiry (graceAuthNsRemaining)


@dataclass(frozen=True, slots=True)
class Person:
    """A person as the identity provider sees them.

    `subject` is the stable, opaque id (entryUUID / objectGUID / eduPersonUniqueId): it never
    changes when a login name is renamed, and it is what `sub` claims are made from.
    `username` is the login name as the directory spells it, not as it was typed.
    """

    subject: str
    username: str
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    number: str | None = None  # student or staff number
    department: str | None = None
    title: str | None = None
    affiliations: tuple[str, ...] = ()
    principal_name: str | None = None  # eduPersonPrincipalName, e.g. alice@example.edu
    entitlements: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    dn: str | None = None
    disabled: bool = False
    notice: PasswordNotice | None = field(default=None, compare=False)
    # None: read from the directory just now. Otherwise the directory could not be reached and
    # this is the last-known copy (directory/last_known.py), as the directory confirmed it at
    # this Unix time: the IdP audits logins made with it as "offline"
    as_of: float | None = field(default=None, compare=False)

    @property
    def scoped_affiliations(self) -> tuple[str, ...]:
        """eduPersonScopedAffiliation: each affiliation @ the principal name's domain (none
        without one)."""
        if not self.principal_name or "@" not in self.principal_name:
            return ()
        domain = self.principal_name.rsplit("@", 1)[1]
        return tuple(f"{affiliation}@{domain}" for affiliation in self.affiliations)

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "username": self.username,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "phone": self.phone,
            "number": self.number,
            "department": self.department,
            "title": self.title,
            "affiliations": list(self.affiliations),
            "principal_name": self.principal_name,
            "entitlements": list(self.entitlements),
            "groups": list(self.groups),
            "dn": self.dn,
            "disabled": self.disabled,
        }


@dataclass(frozen=True, slots=True)
class Account:
    """The one entry a login name finds, before any password is checked: what the login
    throttle counts against, so that every spelling the directory matches to the same entry
    shares one budget (`ｚhuxin`, `ⓩhuxin` and `zhuxin` all find uid=zhuxin on OpenLDAP)."""

    key: str  # the entry's stable subject (its DN, should it lack one)
    username: str  # as the directory spells it


@dataclass(frozen=True, slots=True)
class Facts:
    """What the directory holds about one entry under some attribute names, read without any
    bind: what a person proves who they are with at /activate. `values` has every asked name,
    with no values for an attribute the entry lacks."""

    account: Account
    values: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    dn: str | None = None
    description: str | None = None


class DirectoryError(Exception):
    """Base of every error a Directory raises. `kind` is a stable machine-readable name."""

    kind = "directory_error"

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        super().__init__(message or self.default_message)
        # detail is for logs and the audit trail, never for the person at the login form
        self.detail = detail

    default_message = "directory error"


class InvalidCredentials(DirectoryError):
    """Unknown user or wrong password: deliberately the same error, message and cost."""

    kind = "invalid_credentials"
    default_message = "invalid username or password"


class AccountLocked(DirectoryError):
    kind = "account_locked"
    default_message = "account locked"


class AccountDisabled(DirectoryError):
    kind = "account_disabled"
    default_message = "account disabled"


class PasswordExpired(DirectoryError):
    kind = "password_expired"
    default_message = "password expired"


class MustChangePassword(DirectoryError):
    kind = "must_change_password"
    default_message = "password must be changed"


class PasswordRejected(DirectoryError):
    """The directory refused a new password (draft-behera-ldap-password-policy §6.2 errors 3-8,
    AD 0000052D). `reason` is one of REASONS, so the page can say what to do differently."""

    kind = "password_rejected"
    default_message = "the new password was refused by the password policy"
    REASONS = ("too_short", "quality", "in_history", "too_young", "not_allowed")

    def __init__(self, reason: str = "quality", message: str | None = None, *,
                 detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.reason = reason if reason in self.REASONS else "quality"


class DirectoryUnavailable(DirectoryError):
    """The directory cannot be reached or answered with an error that is not the person's fault."""

    kind = "directory_unavailable"
    default_message = "directory unavailable"


class AlreadyExists(DirectoryError):
    """A write would create a second person or group of the same name (write API only)."""

    kind = "already_exists"
    default_message = "already exists"


class NoSuchEntry(DirectoryError):
    """A write names a person or group that does not exist (write API only)."""

    kind = "no_such_entry"
    default_message = "no such person or group"


# (server URI, "bind" or "search", seconds, error kind or None): called once per LDAP operation so
# the IdP can export latency and errors per server without the directory importing the IdP
DirectoryObserver = Callable[[str, str, float, str | None], None]


def no_observer(server: str, operation: str, seconds: float, error: str | None) -> None:
    return None


# a person with more entries than this is a data error, not a person: the rest are not offered
MAX_IDENTITIES = 8


def normalize_username(username: str) -> str:
    """A typed login name as directories compare it: NFKC-normalised and trimmed.

    NFKC, not just NFC (LDAP-PITFALLS 13): OpenLDAP's matching folds compatibility characters,
    so the fullwidth `ｚhuxin`, the mathematical `𝐳𝐡𝐮𝐱𝐢𝐧` and the circled `ⓩhuxin` all find
    uid=zhuxin; folding them here first means every part of the IdP sees the one name. Case is
    left to the directory's own matching rule: full case folding would turn `straße` into
    `strasse`, which caseIgnoreMatch does not find.

    A name with a control character (NUL, a line break, ...) is no login name and comes back
    empty, which every caller already refuses: Samba AD's database ends a string at NUL, so the
    escaped filter (sAMAccountName=student\\00) found the student and `student\\x00` signed in."""
    normalized = unicodedata.normalize("NFKC", username).strip()
    if any(unicodedata.category(char) == "Cc" for char in normalized):
        return ""
    return normalized


def username_key(username: str) -> str:
    """The comparison key of a login name: NFKC + case folding (`ZhuXin` and `ｚhuxin` are
    `zhuxin`). For keys only (the local directory's unique key, the login throttle of a name
    that finds no entry), never a name to send to a directory: see `normalize_username`."""
    return unicodedata.normalize("NFKC", normalize_username(username).casefold())


@runtime_checkable
class Directory(Protocol):
    """What the IdP needs of a campus directory. Every method is safe to await on the loop."""

    name: str

    async def authenticate(self, username: str, password: str) -> Person:
        """Check the password and return the person, or raise a DirectoryError."""
        ...

    async def find(self, username: str) -> Person | None:
        """The person with this login name, or None."""
        ...

    async def by_subject(self, subject: str) -> Person | None:
        """The person with this stable subject id, or None (used when tokens are refreshed)."""
        ...

    async def locate(self, username: str) -> Account | None:
        """The entry this login name would bind to, found without any bind (so without touching
        the directory's failure count), or None when it finds none. The login throttle counts
        attempts against it, before the password is checked. Raises DirectoryUnavailable."""
        ...

    async def identities(self, person: Person) -> tuple[Person, ...]:
        """The linked identities of this person: `person` first, then every other active entry
        linked to it (IDP_IDENTITIES_LINK_ATTRIBUTE, followed both ways and on from the entries
        found) or sharing its correlation value (IDP_IDENTITIES_CORRELATE_BY), at most
        MAX_IDENTITIES in all. Just `(person,)` when linking is not configured. Disabled entries
        are left out: an identity is only offered while its entry may sign in. Nobody signs in
        with another entry's password: the caller proved `person`'s. Raises
        DirectoryUnavailable."""
        ...

    async def facts(self, username: str, attributes: tuple[str, ...]) -> Facts | None:
        """The values of these attributes of the entry this login name finds (a search with the
        service account, never a bind), or None when it finds none. Raises DirectoryUnavailable,
        and ValueError for an attribute the directory cannot have (the local one's are fixed)."""
        ...

    async def groups(self) -> list[Group]:
        ...

    async def check(self) -> str:
        """Reach the directory and return a one-line description; raise DirectoryUnavailable."""
        ...

    async def lockout_threshold(self, username: str) -> int | None:
        """Failed binds after which the directory itself locks this account (ppolicy
        pwdMaxFailure, AD lockoutThreshold), or None when it never locks or cannot tell. The
        login throttle stays below it (LDAP-PITFALLS 10). An unknown username gets the threshold
        of the policy that would apply to it, so the answer reveals nothing. Local: None."""
        ...

    async def change_password(self, username: str, old_password: str, new_password: str) -> None:
        """The person changes their own password, proving the old one (RFC 3062 Password Modify
        on OpenLDAP, unicodePwd delete + add on AD). Raises InvalidCredentials (old password
        wrong), PasswordRejected (policy), AccountLocked / AccountDisabled, DirectoryUnavailable.
        Works for an expired or must-change password: that is what it is for."""
        ...

    async def close(self) -> None:
        ...
