"""Connections to the campus directory: options, TLS, failover across URIs, and a small pool.

Failover remembers which servers failed (directory/ldap_breaker.py), so a server that hangs is
passed over after the first request it cost, instead of being waited out by every login.

python-ldap serialises the calls on one connection behind a lock (LDAP-PITFALLS 15), so service
searches share a few pooled connections while every user bind gets a fresh one that is thrown
away afterwards: a user's identity never leaks onto a connection that others reuse. Everything
here blocks; LdapDirectory calls it from its own thread pool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ldap
from ldap.ldapobject import LDAPObject

from directory.base import DirectoryObserver, DirectoryUnavailable, no_observer
from directory.config import LdapConfig
from directory.ldap_breaker import Breakers
from directory.ldap_errors import CONNECTION_ERRORS, error_info

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Connection:
    """An LDAP connection and the URI it reached."""

    conn: LDAPObject
    url: str

    def close(self) -> None:
        try:
            self.conn.unbind_s()
        except ldap.LDAPError:
            pass


class Connector:
    """Opens connections with the settings' options, trying each URI in order (failover), each
    behind its circuit breaker. Connectors to one directory may share `breakers`."""

    def __init__(self, settings: LdapConfig, observer: DirectoryObserver = no_observer,
                 breakers: Breakers | None = None) -> None:
        self.settings = settings
        self.observer = observer
        # a refusal takes milliseconds; anything near the connect timeout was a timeout
        self.breakers = breakers or Breakers(settings.urls, settings.failover_cooldown,
                                             slow_after=settings.network_timeout / 2)

    def _configure(self, url: str) -> LDAPObject:
        s = self.settings
        conn = ldap.initialize(url)
        conn.protocol_version = ldap.VERSION3
        # referral chasing re-binds anonymously and breaks AD searches (LDAP-PITFALLS 4)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        # both default to "wait forever": a dead server would hang logins (LDAP-PITFALLS 12)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, s.network_timeout)
        conn.set_option(ldap.OPT_TIMEOUT, s.timeout)
        conn.timeout = s.timeout  # python-ldap's own wait in the synchronous *_s calls
        if s.start_tls or url.startswith("ldaps://"):
            conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
            if s.ca_file:
                conn.set_option(ldap.OPT_X_TLS_CACERTFILE, s.ca_file)
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # apply the TLS options above
        return conn

    def open(self, first_operation: Callable[[LDAPObject], object]) -> Connection:
        """A connection on which `first_operation` (a bind) succeeded, trying every URI.

        Only connection-level failures move on to the next URI; any other error (wrong password,
        for instance) is the answer and is raised as the python-ldap exception it is.
        """
        plan = self.breakers.plan()
        if not plan.urls:
            wait = self.breakers.next_probe_in()
            log.info("every LDAP server timed out lately; the next is tried in %.0f s", wait)
            raise DirectoryUnavailable(
                detail=f"every LDAP server timed out lately (next try in {wait:.0f} s)")
        failures: list[str] = []
        try:
            for url in plan.urls:
                conn = self._configure(url)
                started = time.perf_counter()
                try:
                    if self.settings.start_tls and url.startswith("ldap://"):
                        # never fall back to plaintext: a failed StartTLS is a failed server
                        conn.start_tls_s()
                    first_operation(conn)
                    self.observer(url, "bind", time.perf_counter() - started, None)
                    self.breakers.succeeded(plan, url)
                    return Connection(conn, url)
                except CONNECTION_ERRORS as exc:  # down, timed out, or a TLS handshake that failed
                    seconds = time.perf_counter() - started
                    self.observer(url, "bind", seconds, "unavailable")
                    self.breakers.failed(plan, url, seconds)
                    failures.append(f"{url}: {error_info(exc).get('desc', exc)}")
                except ldap.PROTOCOL_ERROR as exc:  # StartTLS refused by the server
                    seconds = time.perf_counter() - started
                    self.observer(url, "bind", seconds, "starttls_refused")
                    self.breakers.failed(plan, url, seconds)
                    failures.append(f"{url}: StartTLS refused ({error_info(exc).get('info', '')})")
                except BaseException as exc:
                    self.observer(url, "bind", time.perf_counter() - started, _kind(exc))
                    if isinstance(exc, ldap.LDAPError):  # an answer (a wrong password, say)
                        self.breakers.succeeded(plan, url)
                    _unbind(conn)
                    raise
                _unbind(conn)
        finally:
            self.breakers.release(plan)
        log.warning("LDAP unreachable: %s", "; ".join(failures))
        raise DirectoryUnavailable(detail="; ".join(failures))

    def service(self) -> Connection:
        """A connection bound as the service account (anonymous when no bind DN is set)."""
        s = self.settings
        password = s.bind_password.get_secret_value()

        def bind(conn: LDAPObject) -> None:
            conn.simple_bind_s(s.bind_dn, password)

        try:
            return self.open(bind)
        except ldap.INVALID_CREDENTIALS as exc:
            # the operator's fault, not the person's: the IdP cannot search at all
            raise DirectoryUnavailable(
                "directory service account rejected", detail=f"bind as {s.bind_dn!r} failed"
            ) from exc
        except ldap.LDAPError as exc:
            raise DirectoryUnavailable(detail=f"service bind: {error_info(exc)}") from exc


class AdminConnector(Connector):
    """Opens connections bound as the admin account instead of the service account.

    It lives here, with the service connector, because two sides use it: the admin writer
    (ldap_admin.py) and a person's own password change when only the admin may finish it
    (ldap_password.py); the login side never has to import the writer.
    """

    def service(self) -> Connection:
        s = self.settings
        password = s.admin_bind_password.get_secret_value()

        def bind(conn: LDAPObject) -> None:
            conn.simple_bind_s(s.admin_bind_dn, password)

        try:
            return self.open(bind)
        except ldap.INVALID_CREDENTIALS as exc:
            raise DirectoryUnavailable(
                "the directory rejected the admin account (IDP_LDAP_ADMIN_BIND_DN / _PASSWORD)",
                detail=f"bind as {s.admin_bind_dn!r} failed",
            ) from exc
        except ldap.LDAPError as exc:
            raise DirectoryUnavailable(detail=f"admin bind: {error_info(exc)}") from exc


STALE_CONNECTION_ERRORS = (ldap.SERVER_DOWN, ldap.CONNECT_ERROR)


def _kind(exc: BaseException) -> str:
    """A short, bounded label for an error (metrics labels must not grow without bound)."""
    return type(exc).__name__.lower()


def _unbind(conn: LDAPObject) -> None:
    try:
        conn.unbind_s()
    except ldap.LDAPError:
        pass


class ServicePool:
    """At most `size` service connections; a broken one is dropped and a fresh one tried once.

    A pooled connection that the server dropped means it restarted (or a proxy between us cut
    every connection): the other idle ones were opened before the same event, so they are all
    dropped with it, and the retry opens a fresh connection. That is what lets logins and admin
    writes recover by themselves, at their first request, after the directory restarts.
    """

    def __init__(self, connector: Connector, size: int, wait: float) -> None:
        self._connector = connector
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._wait = wait
        self._closed = False

    def run(self, operation: Callable[[Connection], T]) -> T:
        """Run `operation` on a pooled connection; connection failures → DirectoryUnavailable."""
        if not self._slots.acquire(timeout=self._wait):
            raise DirectoryUnavailable(detail="all pooled LDAP connections stayed busy")
        try:
            for _attempt in range(2):
                connection, reused = self._take()
                started = time.perf_counter()
                try:
                    result = operation(connection)
                except CONNECTION_ERRORS as exc:
                    self._observe(connection, started, "unavailable")
                    connection.close()
                    # a pooled connection the server dropped (it restarted since): one fresh try.
                    # Never after a timeout: the server may have done the work (an add, a password
                    # change), and doing it again would fail or, worse, happen twice
                    if reused and isinstance(exc, STALE_CONNECTION_ERRORS):
                        self._drop_idle()
                        continue
                    # the server stopped answering: its breaker opens, and the idle connections
                    # to it go too, or each would cost the next callers a timeout of their own
                    self._connector.breakers.failed(None, connection.url,
                                                    time.perf_counter() - started)
                    self._drop_idle(connection.url)
                    raise DirectoryUnavailable(
                        detail=f"{connection.url}: {error_info(exc).get('desc', exc)}"
                    ) from exc
                except ldap.LDAPError as exc:
                    self._observe(connection, started, _kind(exc))
                    self._give_back(connection)  # an answer (no such object, …): still usable
                    raise
                except BaseException as exc:
                    self._observe(connection, started, _kind(exc))
                    connection.close()  # unknown state: do not hand it to the next caller
                    raise
                self._observe(connection, started, None)
                self._give_back(connection)
                return result
            raise DirectoryUnavailable(detail="LDAP connection lost twice")
        finally:
            self._slots.release()

    def _observe(self, connection: Connection, started: float, error: str | None) -> None:
        self._connector.observer(connection.url, "search", time.perf_counter() - started, error)

    def _take(self) -> tuple[Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connector.service(), False

    def _drop_idle(self, url: str | None = None) -> None:
        """Close the idle connections (to `url` only, when given)."""
        with self._lock:
            idle = [c for c in self._idle if url is None or c.url == url]
            self._idle = [c for c in self._idle if c not in idle]
        for connection in idle:
            connection.close()

    def _give_back(self, connection: Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._drop_idle()
