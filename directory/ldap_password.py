"""The person's own password against LDAP: which lockout threshold applies to them, changing the
password, and making a login for nobody cost what a wrong password costs.

Lockout threshold (LDAP-PITFALLS 10), read with the service account and cached:
- OpenLDAP ppolicy (draft-behera-ldap-password-policy §5.2): the policy the entry names in
  pwdPolicySubentry, else the overlay's default policy. The default's DN is the setting
  `ppolicy_default_dn` when given, else olcPPolicyDefault in cn=config, which a service account
  can rarely read; failing both, the strictest policy found under the naming contexts stands in
  for it, which is never above the real one. pwdMaxFailure counts only with pwdLockout TRUE;
  0 means no lockout.
- Active Directory: the fine-grained policy in the constructed msDS-ResultantPSO
  (msDS-LockoutThreshold), else lockoutThreshold on the domain root (defaultNamingContext);
  0 means the domain never locks.

Password change (LDAP-PITFALLS 14):
- OpenLDAP: a fresh connection binds as the person with the old password and the ppolicy
  control (a must-change or grace bind succeeds, restricted to changing the password), then RFC
  3062 Password Modify with the old and the new password and the ppolicy control, so the server
  hashes the new one and applies its policy. An expired password with no grace binds left cannot
  bind at all: ppolicy answers passwordExpired, which it only does for the right password. Then,
  if an admin account is configured, the same Password Modify runs as the admin.
  Either way the old password is proved before the request, which still carries it so that a
  directory able to check it checks it again. slapd checks it only where the ACL lets the
  requester read it: under `by self =w by anonymous auth` it answers err=53 "unwilling to verify
  old password" (as for a wrong one). On exactly that answer the request goes again without the
  old password (optional in RFC 3062). Never the person's fault, so never InvalidCredentials,
  the only error the callers count toward the login throttle.
- Active Directory (MS-ADTS 3.1.1.3.1.5.2): one modify deleting the old unicodePwd and adding
  the new (quoted UTF-16LE) over LDAPS or StartTLS. It is sent by the service account, because a
  person whose password expired (532) or must change (773) cannot bind; the "Change Password"
  right belongs to Everyone by default, and AD checks the old value and its policy itself.
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ldap
from ldap.controls.ppolicy import PasswordPolicyControl
from ldap.ldapobject import LDAPObject

from directory.base import (
    DirectoryUnavailable,
    PasswordExpired,
)
from directory.config import LdapConfig
from directory.ldap_admin_modlists import ad_password_value, changes_for
from directory.ldap_errors import bind_failure, cannot_verify_old, change_failure
from directory.ldap_pool import AdminConnector, Connection, Connector, ServicePool

log = logging.getLogger(__name__)

Entry = Mapping[str, list[bytes]]
Modlist = list[tuple[int, str, list[bytes] | None]]

CACHE_SECONDS = 300.0
CACHE_ENTRIES = 4096


# --- pure functions (unit-tested without a server) -------------------------------------------


def _first(entry: Entry, attribute: str) -> bytes | None:
    lowered = attribute.lower()
    for key, values in entry.items():
        if key.lower() == lowered and values:
            return values[0]
    return None


def _int(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def ppolicy_threshold(policy: Entry) -> int | None:
    """pwdMaxFailure of a pwdPolicy entry, when that policy locks (pwdLockout TRUE)."""
    if (_first(policy, "pwdLockout") or b"").upper() != b"TRUE":
        return None
    failures = _int(_first(policy, "pwdMaxFailure"))
    return failures if failures and failures > 0 else None


def ad_threshold(entry: Entry, attribute: str = "lockoutThreshold") -> int | None:
    """lockoutThreshold (domain) or msDS-LockoutThreshold (PSO); 0 means never locked."""
    value = _int(_first(entry, attribute))
    return value if value and value > 0 else None


def strictest(thresholds: Iterable[int | None]) -> int | None:
    known = [t for t in thresholds if t is not None]
    return min(known) if known else None


def ad_change_modlist(old_password: str, new_password: str) -> Modlist:
    """A person's own change: delete the old value, add the new (MS-ADTS 3.1.1.3.1.5.2). A
    replace would be an admin reset, which needs the Reset Password right and skips history."""
    return [
        (ldap.MOD_DELETE, "unicodePwd", [ad_password_value(old_password)]),
        (ldap.MOD_ADD, "unicodePwd", [ad_password_value(new_password)]),
    ]


# --- lockout thresholds ----------------------------------------------------------------------


class _TtlCache:
    """A small thread-safe cache; entries live CACHE_SECONDS, the whole thing is dropped when full."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = compute()
        with self._lock:
            if len(self._items) >= CACHE_ENTRIES:
                self._items.clear()
            self._items[key] = (now + CACHE_SECONDS, value)
        return value


class LockoutPolicies:
    """The lockout threshold that applies to a username, read over the service pool."""

    def __init__(self, pool: ServicePool, settings: LdapConfig) -> None:
        self._pool = pool
        self._settings = settings
        self._active_directory = settings.profile == "activedirectory"
        self._cache = _TtlCache()

    def threshold(self, user_filter: str | None) -> int | None:
        """`user_filter` is the escaped filter that finds the person (None: nobody)."""
        policy = self._cache.get(f"user:{user_filter}", lambda: self._policy_of(user_filter))
        if policy is None:
            return self._cache.get("default", self._default_threshold)
        threshold = self._cache.get(f"policy:{policy}", lambda: self._read_policy(policy))
        if isinstance(threshold, DirectoryUnavailable):
            # "cannot tell" is cached like any answer: no extra searches at every login
            raise DirectoryUnavailable(str(threshold), detail=threshold.detail)
        return threshold

    def _policy_of(self, user_filter: str | None) -> str | None:
        """The DN of the policy the entry names, or None for the default one."""
        if user_filter is None:
            return None
        # AD computes msDS-ResultantPSO only for a base-scope read of the entry
        attribute = "msDS-ResultantPSO" if self._active_directory else "pwdPolicySubentry"

        def search(connection: Connection) -> list[tuple[str | None, Entry]]:
            return connection.conn.search_ext_s(
                self._settings.user_base, ldap.SCOPE_SUBTREE, user_filter,
                ["1.1"] if self._active_directory else [attribute],
                timeout=self._settings.timeout, sizelimit=2)

        try:
            found = [(dn, entry) for dn, entry in self._pool.run(search) if dn is not None]
        except ldap.SIZELIMIT_EXCEEDED:
            return None
        if len(found) != 1:
            return None
        if self._active_directory:
            found = self._read(found[0][0], ldap.SCOPE_BASE, "(objectClass=*)", [attribute])
        value = _first(found[0][1], attribute) if found else None
        return value.decode("utf-8", "replace") if value else None

    def _read(self, base: str, scope: int, filterstr: str, attributes: list[str]
              ) -> list[tuple[str, Entry]]:
        def search(connection: Connection) -> list[tuple[str | None, Entry]]:
            return connection.conn.search_ext_s(base, scope, filterstr, attributes,
                                                timeout=self._settings.timeout)

        return [(dn, entry) for dn, entry in self._pool.run(search) if dn is not None]

    def _read_policy(self, dn: str) -> int | DirectoryUnavailable | None:
        if self._active_directory:
            return self._read_pso(dn)
        found = self._read(dn, ldap.SCOPE_BASE, "(objectClass=pwdPolicy)",
                           ["pwdMaxFailure", "pwdLockout"])
        return ppolicy_threshold(found[0][1]) if found else None

    def _read_pso(self, dn: str) -> int | DirectoryUnavailable | None:
        """msDS-LockoutThreshold of the fine-grained policy the person is under. By default only
        Domain Admins may read a PSO: the service account then gets the entry with no attributes
        (or no entry), which is "cannot tell", never "never locks": the throttle falls back to
        its own small budget (IDP_THROTTLE_FALLBACK_PER_ACCOUNT) instead of the domain's
        threshold, which the PSO may lower."""
        attribute = "msDS-LockoutThreshold"
        try:
            found = self._read(dn, ldap.SCOPE_BASE, "(objectClass=*)", [attribute])
        except (ldap.NO_SUCH_OBJECT, ldap.INSUFFICIENT_ACCESS):
            found = []
        if not found or _first(found[0][1], attribute) is None:
            return DirectoryUnavailable(
                "cannot read the person's fine-grained password policy",
                detail=f"the service account cannot read {attribute} of {dn!r}: grant it Read "
                       "on CN=Password Settings Container,CN=System")
        return ad_threshold(found[0][1], attribute)

    def _root_dse(self, attribute: str) -> list[str]:
        found = self._read("", ldap.SCOPE_BASE, "(objectClass=*)", [attribute])
        values = [v for _dn, entry in found for key, vs in entry.items()
                  if key.lower() == attribute.lower() for v in vs]
        return [v.decode("utf-8", "replace") for v in values]

    def _default_threshold(self) -> int | None:
        if self._active_directory:
            for domain in self._root_dse("defaultNamingContext")[:1]:
                found = self._read(domain, ldap.SCOPE_BASE, "(objectClass=*)", ["lockoutThreshold"])
                return ad_threshold(found[0][1]) if found else None
            return None
        configured = self._settings.ppolicy_default_dn or self._configured_default()
        if configured:
            return self._read_policy(configured)
        policies: list[int | None] = []
        for context in self._root_dse("namingContexts"):
            policies += [ppolicy_threshold(entry) for _dn, entry in self._read(
                context, ldap.SCOPE_SUBTREE, "(objectClass=pwdPolicy)", ["pwdMaxFailure", "pwdLockout"])]
        return strictest(policies)

    def _configured_default(self) -> str | None:
        """olcPPolicyDefault of the overlay on the database holding the people, if readable."""
        try:
            overlays = self._read("cn=config", ldap.SCOPE_SUBTREE, "(objectClass=olcPPolicyConfig)",
                                  ["olcPPolicyDefault"])
        except ldap.LDAPError:
            return None  # no config access: the usual case for a service account
        base = self._settings.user_base.lower()
        for dn, entry in overlays:
            database = dn.split(",", 1)[1] if "," in dn else ""
            suffixes = self._read(database, ldap.SCOPE_BASE, "(objectClass=*)", ["olcSuffix"])
            for _dn, attrs in suffixes:
                suffix = (_first(attrs, "olcSuffix") or b"").decode().lower()
                default = _first(entry, "olcPPolicyDefault")
                if suffix and base.endswith(suffix) and default:
                    return default.decode()
        return None


# --- changing the password -------------------------------------------------------------------


class PasswordChanger:
    """Changes a person's own password on OpenLDAP or Active Directory (module docstring)."""

    def __init__(self, connector: Connector, settings: LdapConfig) -> None:
        self._connector = connector
        self._settings = settings

    def change(self, dn: str, old_password: str, new_password: str) -> None:
        if self._settings.profile == "activedirectory":
            self._change_active_directory(dn, old_password, new_password)
        else:
            self._change_openldap(dn, old_password, new_password)

    def _change_openldap(self, dn: str, old_password: str, new_password: str) -> None:
        def bind(conn: LDAPObject) -> None:
            conn.simple_bind_s(dn, old_password, serverctrls=[PasswordPolicyControl()])

        as_admin = False
        try:
            connection = self._connector.open(bind)
        except ldap.LDAPError as exc:
            failure = bind_failure(exc)
            if not isinstance(failure, PasswordExpired) or not self._settings.admin_bind_dn:
                raise failure from exc
            connection, as_admin = self._admin_connection(), True
        try:
            self._password_modify(connection.conn, dn, old_password, new_password)
            if as_admin:
                self._clear_reset(connection.conn, dn)
        except ldap.LDAPError as exc:
            raise change_failure(exc) from exc
        finally:
            connection.close()

    @staticmethod
    def _password_modify(conn: LDAPObject, dn: str, old_password: str, new_password: str) -> None:
        """RFC 3062 with the old password; without it when slapd will not verify it (module
        docstring: the caller has proved it already, by the bind or by ppolicy's answer)."""
        try:
            conn.passwd_s(dn, old_password, new_password, serverctrls=[PasswordPolicyControl()])
        except ldap.UNWILLING_TO_PERFORM as exc:
            if not cannot_verify_old(exc):
                raise
            log.info("slapd may not read the old password of %r (ACL): sent without it", dn)
            conn.passwd_s(dn, None, new_password, serverctrls=[PasswordPolicyControl()])

    def _admin_connection(self) -> Connection:
        return AdminConnector(self._settings).service()

    @staticmethod
    def _clear_reset(conn: LDAPObject, dn: str) -> None:
        """An admin's Password Modify sets pwdReset under pwdMustChange; this password was the
        person's own choice, so the next login must not ask for another change."""
        _, entry = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["pwdReset"])[0]
        if entry.get("pwdReset"):
            conn.modify_s(dn, changes_for("no_change", False))

    def _change_active_directory(self, dn: str, old_password: str, new_password: str) -> None:
        connection = self._connector.service()
        try:
            # the connection actually in use decides, not the list: with "ldap://a ldaps://b"
            # and a down, the change goes over b's TLS (and never over a plain a)
            if not (self._settings.start_tls or connection.url.startswith("ldaps://")):
                raise DirectoryUnavailable(
                    "Active Directory accepts password changes only over LDAPS or StartTLS",
                    detail=f"{connection.url} is not ldaps:// and IDP_LDAP_START_TLS is off")
            connection.conn.modify_s(dn, ad_change_modlist(old_password, new_password))
        except ldap.LDAPError as exc:
            raise change_failure(exc) from exc
        finally:
            connection.close()


# --- "no such user" costs what "wrong password" costs -----------------------------------------


class FailureTimer:
    """How long recent wrong-password logins took, so that a login for nobody can take as long.

    A wrong password makes slapd check the hash and write pwdFailureTime (ppolicy): a few ms.
    A bind to a DN that does not exist is answered at once. Binding to a real decoy entry would
    cost the same, but ppolicy would lock the decoy after pwdMaxFailure and change its cost
    again. So an unknown user's login is padded by (a recent real failure's duration - the
    unknown path's own typical duration): its time then follows the real failures' distribution,
    whatever the directory's state, without the upward bias that padding to max(own, sample)
    would leave.

    Both sides are read from the last RECENT seconds when there are enough such samples: how
    long a bind takes follows the load on the directory, and samples from a busier (or quieter)
    minute would pad today's unknown logins to yesterday's failures.
    """

    RECENT = 30.0  # seconds
    ENOUGH = 8  # recent samples needed before the older ones are left out

    def __init__(self, size: int = 64) -> None:
        self._failures: deque[tuple[float, float]] = deque(maxlen=size)  # (when, seconds)
        self._unknown: deque[tuple[float, float]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._random = random.Random()

    def record(self, seconds: float) -> None:
        """A wrong password for an existing person took `seconds`."""
        with self._lock:
            self._failures.append((time.monotonic(), seconds))

    def pad(self) -> float:
        """Wait as long as a recent wrong password took, less what the unknown-user path itself
        typically takes without waiting; returns the seconds waited. Called once the dummy bind
        is on its way (LdapDirectory._dummy_bind reads its answer after this returns)."""
        now = time.monotonic()
        with self._lock:
            if not self._failures or not self._unknown:
                return 0.0
            target = self._random.choice(self._recent(self._failures, now))
            typical_own = statistics.median(self._recent(self._unknown, now))
        delay = target - typical_own
        if delay <= 0:
            return 0.0
        time.sleep(delay)
        return delay

    def unpadded(self, seconds: float) -> None:
        """An unknown-user path took `seconds`, not counting its wait."""
        with self._lock:
            self._unknown.append((time.monotonic(), seconds))

    def _recent(self, samples: deque[tuple[float, float]], now: float) -> list[float]:
        recent = [seconds for at, seconds in samples if now - at <= self.RECENT]
        return recent if len(recent) >= self.ENOUGH else [seconds for _, seconds in samples]
