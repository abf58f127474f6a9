"""The write side of the directory, for the admin API, the console and `idp users import`.

`DirectoryWriter` is what both the embedded LocalDirectory (its own write API) and the LDAP admin
writer (directory/ldap_admin.py, a separate admin bind) provide. Reads that only admins need live
here too: a paged people search that stays fast on 100,000 entries, and the account state
(disabled / locked / must change) that the login-side `Person` does not carry.

Only the contract lives here, so that both backends can import it; which writer a directory
gets is decided in directory/factory.py (`open_writer`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from directory.base import DirectoryError, Person

# the person fields a write may set (Person's attributes minus the identity and the derived ones)
WRITABLE_FIELDS = (
    "name", "given_name", "family_name", "email", "phone", "number", "department", "title",
    "affiliations", "principal_name", "entitlements",
)
MULTI_VALUED_FIELDS = frozenset({"affiliations", "entitlements"})
# a listing never reaches further than this into a result set: narrow the query instead
MAX_LISTED = 10_000


class WriteRejected(DirectoryError):
    """The directory refused the change: schema, password policy or a constraint (its reason
    is in the message, for the admin who asked)."""

    kind = "write_rejected"
    default_message = "the directory refused the change"


@dataclass(frozen=True, slots=True)
class AccountState:
    """What an admin needs to see about an account beyond its attributes."""

    disabled: bool = False
    locked: bool = False  # temporarily, after too many failed logins (or by an admin)
    must_change: bool = False  # the next login must change the password
    password_expired: bool = False
    failures: int = 0  # failed logins the directory is counting toward its lockout

    def as_dict(self) -> dict[str, Any]:
        return {"disabled": self.disabled, "locked": self.locked, "must_change": self.must_change,
                "password_expired": self.password_expired, "failures": self.failures}


@runtime_checkable
class DirectoryWriter(Protocol):
    """Admin operations on people and memberships. Every method is safe to await on the loop.

    Errors: NoSuchEntry (no such person or group), AlreadyExists, WriteRejected (the directory's
    schema or policy said no), ValueError (the request itself is malformed), and
    DirectoryUnavailable (the directory, or the admin bind, cannot be used).
    """

    name: str

    async def search(self, query: str = "", offset: int = 0, limit: int = 50) -> list[Person]:
        """People whose login name, name, e-mail or number contains `query`, in a stable order."""
        ...

    async def account_state(self, username: str) -> AccountState: ...

    async def create_person(
        self, username: str, password: str | None = None, password_hash: str | None = None,
        groups: Iterable[str] = (), **fields: Any,
    ) -> Person:
        """Create the person in `groups`, completely or not at all (a group that cannot be
        joined undoes the whole creation). `password_hash` is an already hashed value ({SSHA},
        {CRYPT}…) from an older system."""
        ...

    async def update_person(self, username: str, **fields: Any) -> Person: ...

    async def delete_person(self, username: str) -> None: ...

    async def set_password(self, username: str, password: str, *, must_change: bool = False) -> None:
        ...

    async def set_disabled(self, username: str, disabled: bool = True) -> None: ...

    async def unlock(self, username: str) -> None: ...

    async def require_password_change(self, username: str) -> None: ...

    async def add_member(self, group: str, username: str) -> None: ...

    async def remove_member(self, group: str, username: str) -> None: ...

    async def close(self) -> None: ...

