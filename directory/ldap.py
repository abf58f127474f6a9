"""The campus LDAP directory (OpenLDAP or Active Directory) through python-ldap.

The login pipeline, as dex's connector/ldap does it:
1. reject an empty password before anything else (RFC 4513 §5.1.2: it would be an
   unauthenticated bind that many servers answer with success);
2. search with the service account for the one entry the escaped filter matches (RFC 4515);
3. bind as the DN that search returned, on a fresh connection, with the password as typed and the
   Password Policy request control (draft-behera-ldap-password-policy §6.1);
4. read the groups with the service account.
A login's throttle first locates the account (`locate`, the same search as step 2) to count the
attempt against the entry; `authenticate` in the same request binds to the entry that search
found (kept in a context variable: each request is a task of its own, so it reaches no other
request; it is used once, for the same typed name, within LOCATED_FOR seconds, and not after
any change made through the IdP since, as `forget` counts them), so a login searches for its
person once.
An unknown user still pays for a bind (against a DN that cannot exist), so the answer and its
timing do not tell who has an account. Every blocking call runs in this directory's own thread
pool, never on the event loop. `by_subject`, the token path's lookup, is answered from a
short-lived PersonCache (directory/person_cache.py) when IDP_LDAP_PERSON_CACHE_SECONDS > 0;
`authenticate` always asks the directory.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

import ldap
from ldap.controls.ppolicy import PasswordPolicyControl
from ldap.filter import escape_filter_chars
from ldap.ldapobject import LDAPObject

from directory.base import (
    Account,
    AccountDisabled,
    DirectoryError,
    DirectoryObserver,
    DirectoryUnavailable,
    Facts,
    Group,
    InvalidCredentials,
    PasswordNotice,
    PasswordRejected,
    Person,
    no_observer,
    normalize_username,
)
from directory.config import IdentityLinkConfig, LdapConfig
from directory.ldap_errors import bind_failure, error_info, from_policy, password_policy
from directory.ldap_groups import groups_of, list_groups
from directory.ldap_identities import IdentityWalk, searcher
from directory.ldap_password import FailureTimer, LockoutPolicies, PasswordChanger
from directory.ldap_pool import Connection, Connector, ServicePool
from directory.ldap_profiles import Entry, Profile
from directory.person_cache import PersonCache

log = logging.getLogger(__name__)
T = TypeVar("T")


# a located entry is used by the same request's authenticate only this soon after the search
LOCATED_FOR = 2.0
# (directory, typed name, when, changes counted then, (dn, entry)) of this request's last
# `locate` that found one
_located: ContextVar[tuple[LdapDirectory, str, float, int, tuple[str, Entry]] | None] = \
    ContextVar("ldap_located", default=None)


class LdapDirectory:
    """A Directory backed by LDAP; see the module docstring for the login pipeline."""

    name = "ldap"

    def __init__(self, settings: LdapConfig, observer: DirectoryObserver = no_observer,
                 links: IdentityLinkConfig | None = None) -> None:
        self.settings = settings
        self.profile = Profile.build(settings.profile, settings.attributes)
        self.links = links or IdentityLinkConfig()
        self._connector = Connector(settings, observer)
        self.breakers = self._connector.breakers  # per LDAP server (directory/ldap_breaker.py)
        wait = settings.timeout + settings.network_timeout * len(settings.urls)
        self._pool = ServicePool(self._connector, settings.pool_size, wait)
        self._executor = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="ldap")
        self._group_base = settings.group_base or settings.user_base
        self._lockout = LockoutPolicies(self._pool, settings)
        self._passwords = PasswordChanger(self._connector, settings)
        self._failures = FailureTimer()
        ttl = settings.person_cache_seconds
        self._people = PersonCache(ttl) if ttl > 0 else None
        self._forget_listeners: list[Callable[[str], None]] = []
        # changes made through the IdP (`forget`), counted from any thread: a located entry
        # from before one is not bound to
        self._change_counter = itertools.count(1)
        self._changes = 0
        walk_attributes = self.profile.attributes + [
            a for a in (self.links.link_attribute, self.links.correlate_by) if a]
        self._walk = IdentityWalk(self.links, settings.user_base, searcher(
            self._pool, walk_attributes, settings.timeout))

    # --- running blocking work off the loop ----------------------------------------------------

    @staticmethod
    def _mapped(function: Callable[..., T], *args: Any) -> T:
        """Call `function` (in a pool thread); LDAP errors come out as directory errors."""
        try:
            return function(*args)
        except DirectoryError:
            raise
        except ldap.LDAPError as exc:
            # whatever python-ldap raised that nobody mapped: ours, never a bare exception
            log.warning("LDAP error: %s", error_info(exc) or exc)
            raise DirectoryUnavailable(detail=f"{type(exc).__name__}: {error_info(exc)}") from exc

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._mapped, function, *args)

    def _submit_by_subject(self, subject: str) -> Future[Person | None]:
        return self._executor.submit(self._mapped, self._by_subject, subject)

    # --- searches on the pooled service connections --------------------------------------------

    def _user_filter(self, username: str) -> str:
        # escaped once, here, where the filter is built (LDAP-PITFALLS 2)
        return self.settings.user_filter.replace("{username}", escape_filter_chars(username))

    def _search_one(self, filterstr: str,
                    attributes: list[str] | None = None) -> tuple[str, Entry] | None:
        """The single entry matching `filterstr`; None for none or several (ambiguous)."""

        def search(connection: Connection) -> list[tuple[str, Entry]]:
            # two are enough to tell "exactly one" from "ambiguous"
            results = connection.conn.search_ext_s(
                self.settings.user_base,
                ldap.SCOPE_SUBTREE,
                filterstr,
                attributes or self.profile.attributes,
                timeout=self.settings.timeout,
                sizelimit=2,
            )
            return [(dn, attrs) for dn, attrs in results if dn is not None]

        try:
            entries = self._pool.run(search)
        except ldap.SIZELIMIT_EXCEEDED:
            log.warning("LDAP filter %r matched several entries", filterstr)
            return None
        except ldap.NO_SUCH_OBJECT as exc:
            raise DirectoryUnavailable(
                detail=f"user base {self.settings.user_base!r} does not exist"
            ) from exc
        except ldap.FILTER_ERROR as exc:
            raise DirectoryUnavailable(detail=f"bad user filter {filterstr!r}") from exc
        if len(entries) != 1:
            if entries:
                log.warning("LDAP filter %r matched %d entries", filterstr, len(entries))
            return None
        return entries[0]

    def _groups(self, dn: str, entry: Entry) -> list[str]:
        s = self.settings
        member_of = self.profile.member_of(entry)
        return self._pool.run(
            lambda connection: groups_of(
                connection.conn,
                self._group_base,
                dn,
                member_of,
                nested=s.resolve_nested_groups,
                active_directory=s.profile == "activedirectory",
            )
        )

    def _person(self, dn: str, entry: Entry, typed: str | None) -> Person | None:
        person = self.profile.person(dn, entry, typed=typed, groups=self._groups(dn, entry))
        if person is None:
            log.warning("LDAP entry %r lacks a subject or login name attribute", dn)
        return person

    # --- the user's own bind -------------------------------------------------------------------

    def _user_bind(self, dn: str, password: str) -> PasswordPolicyControl | None:
        """Bind as `dn` on a fresh connection and return the ppolicy response, if any."""
        received: list[Any] = []

        def bind(conn: LDAPObject) -> None:
            # the password goes to the server exactly as typed: never escaped or trimmed
            _rtype, _data, _msgid, controls = conn.simple_bind_s(
                dn, password, serverctrls=[PasswordPolicyControl()]
            )
            received.extend(controls or [])

        try:
            connection = self._connector.open(bind)
        except ldap.LDAPError as exc:
            raise bind_failure(exc) from exc
        connection.close()
        return password_policy(received)

    def _dummy_bind(self, password: str, started: float) -> None:
        """Spend what a wrong password costs, against a DN that cannot exist; always fails.

        The bind is sent, then the padding waits (FailureTimer), then the answer is read: it has
        arrived meanwhile, so the padding takes the place of waiting for the answer instead of
        adding a wait of its own. A wrong password's path waits as many times (connect, answer),
        so the two take the same time however busy the CPUs are."""
        nowhere = f"cn=no-such-person-{uuid.uuid4().hex},{self.settings.user_base}"
        waited = 0.0

        def bind(conn: LDAPObject) -> None:
            nonlocal waited
            msgid = conn.simple_bind(nowhere, password, serverctrls=[PasswordPolicyControl()])
            waited += self._failures.pad()
            conn.result3(msgid)

        try:
            connection = self._connector.open(bind)
        except ldap.LDAPError as exc:
            failure = bind_failure(exc)
            if isinstance(failure, DirectoryUnavailable):
                raise failure from exc
        else:
            connection.close()
        self._failures.unpadded(time.perf_counter() - started - waited)

    # --- the blocking halves of the public methods ---------------------------------------------

    def _authenticate(self, username: str, password: str,
                      located: tuple[str, Entry] | None = None) -> Person:
        started = time.perf_counter()
        found = located or self._search_one(self._user_filter(username))
        if found is None:
            self._dummy_bind(password, started)  # as long as a wrong password takes
            raise InvalidCredentials(detail="no such user")
        dn, entry = found
        try:
            policy = self._user_bind(dn, password)
        except InvalidCredentials:
            self._failures.record(time.perf_counter() - started)
            raise
        # a bind can succeed yet carry bad news: changeAfterReset arrives on success
        restricted = from_policy(policy)
        if restricted is not None:
            raise restricted
        person = self._person(dn, entry, username)
        if person is None:
            raise InvalidCredentials(detail=f"entry {dn!r} cannot be mapped to a person")
        if person.disabled:
            raise AccountDisabled(detail="userAccountControl ACCOUNTDISABLE")
        if policy is not None and (
            policy.timeBeforeExpiration is not None or policy.graceAuthNsRemaining is not None
        ):
            notice = PasswordNotice(
                expires_in=policy.timeBeforeExpiration,
                grace_logins=policy.graceAuthNsRemaining,
            )
            person = _with_notice(person, notice)
        return person

    def _change_password(self, username: str, old_password: str, new_password: str) -> None:
        started = time.perf_counter()
        found = self._search_one(self._user_filter(username))
        if found is None:
            self._dummy_bind(old_password, started)
            raise InvalidCredentials(detail="no such user")
        self._passwords.change(found[0], old_password, new_password)

    def _find(self, username: str) -> Person | None:
        found = self._search_one(self._user_filter(username))
        return self._person(*found, username) if found else None

    def _account(self, found: tuple[str, Entry], username: str) -> Account:
        dn, entry = found
        spelled = self.profile.username(entry, username)
        # an entry without a subject still counts its failed binds: key it on its DN then
        return Account(self.profile.subject(entry) or f"dn:{dn}", spelled or username)

    def _facts(self, username: str, attributes: tuple[str, ...]) -> Facts | None:
        wanted = list(dict.fromkeys(
            [*self.profile.fields["subject"], *self.profile.fields["username"], *attributes]))
        found = self._search_one(self._user_filter(username), wanted)
        if found is None:
            return None
        dn, entry = found
        lowered = {key.lower(): values for key, values in entry.items()}
        values = {name: tuple(value.decode("utf-8", "replace")
                              for value in lowered.get(name.lower(), ()))
                  for name in attributes}
        spelled = self.profile.username(entry, username) or username
        return Facts(Account(self.profile.subject(entry) or f"dn:{dn}", spelled), values)

    def _by_subject(self, subject: str) -> Person | None:
        found = self._search_one(self.profile.subject_filter(subject))
        return self._person(*found, None) if found else None

    def _identities(self, person: Person) -> tuple[Person, ...]:
        if person.dn is None:
            return (person,)
        start = self._walk.search(person.dn, ldap.SCOPE_BASE, "(objectClass=*)")
        if not start:
            return (person,)
        identities = [person]
        for dn, entry in self._walk.entries(start[0])[1:]:
            other = self._person(dn, entry, None)
            if other is not None and not other.disabled and other.subject != person.subject:
                identities.append(other)
        return tuple(identities)

    def _check(self) -> str:
        def probe(connection: Connection) -> str:
            connection.conn.search_s(self.settings.user_base, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
            return connection.url

        try:
            url = self._pool.run(probe)
        except ldap.NO_SUCH_OBJECT as exc:
            raise DirectoryUnavailable(f"user base {self.settings.user_base!r} does not exist") from exc
        return f"{url} ({self.settings.profile}, base {self.settings.user_base})"

    # --- the Directory protocol ----------------------------------------------------------------

    async def authenticate(self, username: str, password: str) -> Person:
        if not password:
            raise InvalidCredentials(detail="empty password")
        typed = normalize_username(username)
        if not typed:
            raise InvalidCredentials(detail="empty username")
        located, memo = None, _located.get()
        if memo is not None:
            _located.set(None)
            directory, name, when, changes, found = memo
            if (directory is self and name == typed and changes == self._changes
                    and time.monotonic() - when < LOCATED_FOR):
                located = found
        return await self._run(self._authenticate, typed, password, located)

    async def find(self, username: str) -> Person | None:
        typed = normalize_username(username)
        if not typed:
            return None
        return await self._run(self._find, typed)

    async def locate(self, username: str) -> Account | None:
        typed = normalize_username(username)
        if not typed:
            return None
        changes = self._changes  # before the search: a change during it counts as after
        found = await self._run(self._search_one, self._user_filter(typed))
        _located.set((self, typed, time.monotonic(), changes, found) if found is not None
                     else None)
        return self._account(found, typed) if found is not None else None

    async def facts(self, username: str, attributes: tuple[str, ...]) -> Facts | None:
        typed = normalize_username(username)
        if not typed:
            return None
        return await self._run(self._facts, typed, attributes)

    async def by_subject(self, subject: str) -> Person | None:
        if not subject:
            return None
        if self._people is None:
            return await self._run(self._by_subject, subject)
        return await self._people.get(subject, self._submit_by_subject)

    async def identities(self, person: Person) -> tuple[Person, ...]:
        if not self.links.enabled:
            return (person,)
        return await self._run(self._identities, person)

    def forget(self, subject: str) -> None:
        """Drop this process's cached copy of the person (the admin writer calls it after every
        change it makes, so the change shows on the next request here). Safe from any thread."""
        self._changes = next(self._change_counter)
        if self._people is not None:
            self._people.forget(subject)
        for listener in self._forget_listeners:
            listener(subject)

    def on_forget(self, listener: Callable[[str], None]) -> None:
        """Have `listener(subject)` called (from any thread) whenever a person is forgotten:
        the last-known copy (directory/last_known.py) must not outlive a change either."""
        self._forget_listeners.append(listener)

    async def groups(self) -> list[Group]:
        return await self._run(
            self._pool.run, lambda connection: list_groups(connection.conn, self._group_base)
        )

    async def check(self) -> str:
        return await self._run(self._check)

    async def lockout_threshold(self, username: str) -> int | None:
        typed = normalize_username(username)
        return await self._run(self._lockout.threshold, self._user_filter(typed) if typed else None)

    async def change_password(self, username: str, old_password: str, new_password: str) -> None:
        if not old_password:
            raise InvalidCredentials(detail="empty password")
        if not new_password:
            raise PasswordRejected("too_short", detail="empty new password")
        typed = normalize_username(username)
        if not typed:
            raise InvalidCredentials(detail="empty username")
        await self._run(self._change_password, typed, old_password, new_password)

    async def close(self) -> None:
        if self._people is not None:
            self._people.clear()
        self._pool.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _with_notice(person: Person, notice: PasswordNotice) -> Person:
    from dataclasses import replace

    return replace(person, notice=notice)
