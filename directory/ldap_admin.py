"""Writing people to the campus LDAP through a separate admin bind (IDP_LDAP_ADMIN_BIND_DN).

The login side binds with a read-only service account; writes use an account of their own, on a
small pool of its own, and run in the directory's thread pool like every other LDAP call.

OpenLDAP (ppolicy overlay, draft-behera-ldap-password-policy):
- disable = pwdAccountLockedTime "000001010000Z" (§5.3.3: that value locks for good), enable =
  delete it; unlock = delete a temporary pwdAccountLockedTime (OpenLDAP then clears
  pwdFailureTime itself; older servers get a Relax Rules delete of pwdFailureTime);
- passwords through the Password Modify extended operation (RFC 3062), so the server hashes them
  and applies its policy; pwdReset TRUE forces a change at the next login, and is removed when
  the admin does not want one (ppolicy sets it on every admin reset when pwdMustChange is on).
Active Directory (LDAP-PITFALLS 14, MS-ADTS 3.1.1.3.1.5): unicodePwd replaced with the quoted
UTF-16LE password, over LDAPS or StartTLS only; userAccountControl bit 2 disables; lockoutTime 0
unlocks; pwdLastSet 0 forces a change. The entries and modlists come from the pure functions in
ldap_admin_modlists.py, so they are unit-tested without an AD.

The admin console's people search only reads, and lives in ldap_people_search.py.

Every change to an existing person drops the login side's cached copy of them
(`LdapDirectory.forget`), so a person disabled here is refused by this process's token endpoints
on their next request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import ldap
import ldap.dn
from ldap.controls import RequestControl
from ldap.filter import escape_filter_chars, filter_format
from ldap.ldapobject import LDAPObject

from directory.base import (
    AlreadyExists,
    DirectoryError,
    DirectoryUnavailable,
    NoSuchEntry,
    Person,
    normalize_username,
)
from directory.ldap_admin_modlists import (
    AD_STATE_ATTRIBUTES,
    OPENLDAP_STATE_ATTRIBUTES,
    PERMANENT_LOCK,
    Entry,
    ad_password_value,
    ad_state,
    changes_for,
    new_entry,
    openldap_state,
)
from directory.ldap_errors import CONNECTION_ERRORS, error_info
from directory.ldap_groups import ANY_GROUP
from directory.ldap_people_search import search_people
from directory.ldap_pool import AdminConnector, ServicePool
from directory.writes import AccountState, WriteRejected

if TYPE_CHECKING:
    from directory.ldap import LdapDirectory

log = logging.getLogger(__name__)
T = TypeVar("T")

RELAX_RULES = "1.3.6.1.4.1.4203.666.5.12"  # draft-zeilenga-ldap-relax: lets an admin fix pwd* attrs


def write_failure(exc: ldap.LDAPError, what: str) -> DirectoryError:
    """A python-ldap error of a write, as the directory error an admin can act on."""
    info = error_info(exc)
    reason = str(info.get("info") or info.get("desc") or type(exc).__name__)
    if isinstance(exc, CONNECTION_ERRORS):
        return DirectoryUnavailable(detail=f"{what}: {reason}")
    if isinstance(exc, ldap.ALREADY_EXISTS):
        return AlreadyExists(f"cannot {what}: it already exists")
    if isinstance(exc, ldap.NO_SUCH_OBJECT):
        return NoSuchEntry(f"cannot {what}: no such entry")
    if isinstance(exc, ldap.INSUFFICIENT_ACCESS | ldap.STRONG_AUTH_REQUIRED | ldap.INAPPROPRIATE_AUTH):
        return DirectoryUnavailable(
            f"the admin account may not {what}: {reason}", detail=f"{type(exc).__name__}")
    if isinstance(exc, ldap.CONSTRAINT_VIOLATION | ldap.OBJECT_CLASS_VIOLATION | ldap.UNWILLING_TO_PERFORM
                  | ldap.INVALID_SYNTAX | ldap.NAMING_VIOLATION | ldap.UNDEFINED_TYPE
                  | ldap.TYPE_OR_VALUE_EXISTS | ldap.NO_SUCH_ATTRIBUTE | ldap.CONFIDENTIALITY_REQUIRED
                  | ldap.NOT_ALLOWED_ON_RDN | ldap.NOT_ALLOWED_ON_NONLEAF):
        return WriteRejected(f"the directory refused to {what}: {reason}")
    return DirectoryUnavailable(detail=f"{what}: {type(exc).__name__}: {reason}")


class LdapAdminWriter:
    """DirectoryWriter for OpenLDAP and Active Directory; see the module docstring."""

    name = "ldap"

    def __init__(self, directory: LdapDirectory) -> None:
        self.directory = directory
        self.settings = s = directory.settings
        self.profile = directory.profile
        self.active_directory = s.profile == "activedirectory"
        self._group_base = s.group_base or s.user_base
        self._pool: ServicePool | None = None
        self.pool_size = s.admin_pool_size  # how many writes may usefully run at once
        if s.admin_bind_dn:
            wait = s.timeout + s.network_timeout * len(s.urls)
            # the login side's breakers: a server that hangs is passed over by writes as well
            connector = AdminConnector(s, breakers=directory.breakers)
            self._pool = ServicePool(connector, s.admin_pool_size, wait)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _admin(self, what: str, operation: Callable[[LDAPObject], T]) -> T:
        """Run `operation` on an admin connection; LDAP errors become directory errors."""
        if self._pool is None:
            raise DirectoryUnavailable(
                "writing to LDAP needs an admin account: set IDP_LDAP_ADMIN_BIND_DN and "
                "IDP_LDAP_ADMIN_BIND_PASSWORD")
        try:
            return self._pool.run(lambda connection: operation(connection.conn))
        except DirectoryError:
            raise
        except ldap.LDAPError as exc:
            log.info("LDAP write failed (%s): %s", what, error_info(exc) or exc)
            raise write_failure(exc, what) from exc

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await self.directory._run(function, *args)

    def _state_attributes(self) -> list[str]:
        return list(AD_STATE_ATTRIBUTES if self.active_directory else OPENLDAP_STATE_ATTRIBUTES)

    def _locate(self, conn: LDAPObject, username: str) -> tuple[str, dict[str, list[bytes]]]:
        """The one entry of this login name, with its attributes and account-state attributes."""
        typed = normalize_username(username)
        if not typed:
            raise NoSuchEntry("a username is required")
        filterstr = self.settings.user_filter.replace("{username}", escape_filter_chars(typed))
        attributes = self.profile.attributes + self._state_attributes()
        results = conn.search_ext_s(self.settings.user_base, ldap.SCOPE_SUBTREE, filterstr,
                                    attributes, timeout=self.settings.timeout, sizelimit=2)
        entries = [(dn, attrs) for dn, attrs in results if dn is not None]
        if not entries:
            raise NoSuchEntry(f"no person {typed!r}")
        if len(entries) > 1:
            raise WriteRejected(f"the login name {typed!r} matches several entries")
        return entries[0]

    @contextmanager
    def _changing(self, conn: LDAPObject, username: str) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """Locate the person a change is about. Whatever the change then does, even half of it
        before an error, this process's cached copy of the person is dropped afterwards."""
        dn, entry = self._locate(conn, username)
        try:
            yield dn, entry
        finally:
            subject = self.profile.subject(entry)
            if subject:
                self.directory.forget(subject)

    def _group(self, conn: LDAPObject, group: str) -> tuple[str, list[bytes]]:
        """DN and object classes of the group named `group` (its cn)."""
        filterstr = filter_format(f"(&(cn=%s){ANY_GROUP})", [group])
        results = conn.search_ext_s(self._group_base, ldap.SCOPE_SUBTREE, filterstr,
                                    ["objectClass"], timeout=self.settings.timeout, sizelimit=2)
        entries = [(dn, attrs) for dn, attrs in results if dn is not None]
        if len(entries) != 1:
            raise NoSuchEntry(f"no group {group!r}" if not entries else f"several groups {group!r}")
        dn, attrs = entries[0]
        return dn, [value.lower() for value in attrs.get("objectClass", [])]

    # --- reading -----------------------------------------------------------------------------

    def _search(self, query: str, offset: int, limit: int) -> list[Person]:
        # the admin account, where there is one: directories grant admins the larger limits
        pool = self._pool or self.directory._pool
        return search_people(pool, self.settings, self.profile, query, offset, limit)

    async def search(self, query: str = "", offset: int = 0, limit: int = 50) -> list[Person]:
        return await self._run(self._search, query, offset, limit)

    async def account_state(self, username: str) -> AccountState:
        def read(conn: LDAPObject) -> AccountState:
            _dn, entry = self._locate(conn, username)
            return ad_state(entry) if self.active_directory else openldap_state(entry)

        return await self._run(self._admin, "read the account state", read)

    # --- people --------------------------------------------------------------------------------

    async def create_person(self, username: str, password: str | None = None,
                            password_hash: str | None = None, groups: Iterable[str] = (),
                            **fields: Any) -> Person:
        """Add the entry, set its password, join its groups; any failure deletes it again."""
        spelled = normalize_username(username)
        if not spelled or not spelled.isprintable():
            raise ValueError("a username is required, without control characters")
        if password is not None and password_hash is not None:
            raise ValueError("give a password or a password_hash, not both")
        if password_hash is not None and not password_hash.startswith("{"):
            raise ValueError("an LDAP password_hash is a {SCHEME}value such as {SSHA}… or {CRYPT}…")
        must_change = bool(fields.pop("must_change", False))
        disabled = bool(fields.pop("disabled", False))
        dn, attributes = new_entry(self.profile, self.settings.user_base, spelled, fields,
                                   active_directory=self.active_directory,
                                   password_hash=password_hash)
        wanted_groups = list(dict.fromkeys(groups))

        def create(conn: LDAPObject) -> None:
            conn.add_s(dn, attributes)
            joined: list[tuple[str, str, str]] = []
            try:
                if password:
                    self._set_password(conn, dn, password, must_change=must_change)
                elif must_change:
                    conn.modify_s(dn, changes_for("force_change", self.active_directory))
                if self.active_directory and password and not disabled:
                    self._disable(conn, dn, None, False)  # AD accounts are added disabled
                elif disabled and not self.active_directory:
                    self._disable(conn, dn, None, True)
                for group in wanted_groups:
                    joined.append(self._join(conn, group, dn, dict(attributes), add=True))
            except BaseException:
                # all or nothing: no half-made account stays behind
                for group_dn, attribute, value in joined:
                    _quietly(conn.modify_s, group_dn, [(ldap.MOD_DELETE, attribute, [value.encode()])])
                _quietly(conn.delete_s, dn)
                raise

        await self._run(self._admin, f"create {spelled!r}", create)
        person = await self.directory.find(spelled)
        if person is None:
            raise WriteRejected(f"{spelled!r} was created but cannot be found with the user filter")
        return person

    async def update_person(self, username: str, **fields: Any) -> Person:
        def update(conn: LDAPObject) -> None:
            with self._changing(conn, username) as (dn, entry):
                modlist = changes_for("update", self.active_directory, profile=self.profile,
                                      entry=entry, fields=fields)
                if modlist:
                    conn.modify_s(dn, modlist)

        await self._run(self._admin, f"update {username!r}", update)
        person = await self.directory.find(username)
        if person is None:
            raise NoSuchEntry(f"no person {username!r}")
        return person

    async def delete_person(self, username: str) -> None:
        def remove(conn: LDAPObject) -> None:
            with self._changing(conn, username) as (dn, _entry):
                conn.delete_s(dn)

        await self._run(self._admin, f"delete {username!r}", remove)

    def _set_password(self, conn: LDAPObject, dn: str, password: str, *, must_change: bool) -> None:
        if self.active_directory:
            if not self._encrypted(conn):
                raise WriteRejected("Active Directory accepts passwords only over LDAPS or StartTLS")
            conn.modify_s(dn, [(ldap.MOD_REPLACE, "unicodePwd", [ad_password_value(password)])])
            conn.modify_s(dn, changes_for("force_change" if must_change else "no_change", True))
            return
        conn.passwd_s(dn, None, password)  # RFC 3062: the server hashes and checks its policy
        _, entry = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["pwdReset"])[0]
        has_reset = bool(entry.get("pwdReset"))
        if must_change and not has_reset:
            conn.modify_s(dn, changes_for("force_change", False))
        elif not must_change and has_reset:
            conn.modify_s(dn, changes_for("no_change", False))

    def _encrypted(self, conn: LDAPObject) -> bool:
        try:
            uri = str(conn.get_option(ldap.OPT_URI) or "")
        except ldap.LDAPError:
            uri = ""
        return uri.startswith("ldaps://") or self.settings.start_tls

    async def set_password(self, username: str, password: str, *, must_change: bool = False) -> None:
        if not password:
            raise ValueError("an empty password cannot be set")

        def change(conn: LDAPObject) -> None:
            with self._changing(conn, username) as (dn, _entry):
                self._set_password(conn, dn, password, must_change=must_change)

        await self._run(self._admin, f"set the password of {username!r}", change)

    def _disable(self, conn: LDAPObject, dn: str, entry: dict[str, list[bytes]] | None,
                 disabled: bool) -> None:
        if entry is None:
            entry = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", self._state_attributes())[0][1]
        modlist = changes_for("disable" if disabled else "enable", self.active_directory, entry=entry)
        if modlist:
            conn.modify_s(dn, modlist)

    async def set_disabled(self, username: str, disabled: bool = True) -> None:
        def change(conn: LDAPObject) -> None:
            with self._changing(conn, username) as (dn, entry):
                self._disable(conn, dn, entry, disabled)

        what = "disable" if disabled else "enable"
        await self._run(self._admin, f"{what} {username!r}", change)

    async def unlock(self, username: str) -> None:
        def change(conn: LDAPObject) -> None:
            with self._changing(conn, username) as (dn, entry):
                modlist = changes_for("unlock", self.active_directory, entry=entry)
                if modlist:
                    conn.modify_s(dn, modlist)
                if self.active_directory:
                    return
                # OpenLDAP 2.5 drops pwdFailureTime with the lock; older servers need Relax Rules
                _, after = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["pwdFailureTime"])[0]
                if after.get("pwdFailureTime"):
                    conn.modify_ext_s(dn, [(ldap.MOD_DELETE, "pwdFailureTime", None)],
                                      serverctrls=[RequestControl(RELAX_RULES, True)])

        await self._run(self._admin, f"unlock {username!r}", change)

    async def require_password_change(self, username: str) -> None:
        def change(conn: LDAPObject) -> None:
            with self._changing(conn, username) as (dn, _entry):
                conn.modify_s(dn, changes_for("force_change", self.active_directory))

        await self._run(self._admin, f"force a password change for {username!r}", change)

    # --- memberships -----------------------------------------------------------------------------

    def _join(self, conn: LDAPObject, group: str, person_dn: str, entry: Entry,
              *, add: bool) -> tuple[str, str, str]:
        """Add (or remove) the person to (from) the group; returns (group DN, attribute, value)."""
        group_dn, classes = self._group(conn, group)
        if b"posixgroup" in classes and not ({b"groupofnames", b"groupofuniquenames"} & set(classes)):
            login = self.profile.username(entry, None) or ldap.dn.str2dn(person_dn)[0][0][1]
            attribute, value = "memberUid", login
        elif b"groupofuniquenames" in classes:
            attribute, value = "uniqueMember", person_dn
        else:
            attribute, value = "member", person_dn
        try:
            conn.modify_s(group_dn, [(ldap.MOD_ADD if add else ldap.MOD_DELETE, attribute,
                                      [value.encode("utf-8")])])
        except ldap.TYPE_OR_VALUE_EXISTS:
            pass  # already a member: adding again is fine
        except ldap.NO_SUCH_ATTRIBUTE:
            pass  # not a member: removing again is fine
        return group_dn, attribute, value

    def _membership(self, group: str, username: str, add: bool) -> None:
        def change(conn: LDAPObject) -> None:
            with self._changing(conn, username) as (person_dn, entry):
                self._join(conn, group, person_dn, entry, add=add)

        verb = f"add {username!r} to {group!r}" if add else f"remove {username!r} from {group!r}"
        self._admin(verb, change)

    async def add_member(self, group: str, username: str) -> None:
        await self._run(self._membership, group, username, True)

    async def remove_member(self, group: str, username: str) -> None:
        await self._run(self._membership, group, username, False)


def _quietly(operation: Callable[..., Any], dn: str, *args: Any) -> None:
    """A rollback step: its failure is logged (loudly), never hides the original error."""
    try:
        operation(dn, *args)
    except ldap.LDAPError as exc:
        log.error("rolling back %r failed: %s", dn, error_info(exc) or exc)


__all__ = ["PERMANENT_LOCK", "LdapAdminWriter", "write_failure"]
