"""Prometheus metrics at /metrics: what an operator watches on a login service.

Where the numbers come from, without reaching into the protocol or UI code:
- logins, tokens, logouts: every one is written to the audit log, so `MeteredAudit` (the Audit
  that create_app opens) counts each event as it is recorded;
- back-channel logout deliveries: the outcome lands in a LogoutDelivery row, so a SQLAlchemy
  attribute event counts each final status as it is set;
- the Store: `MeteredStore` times every call on the way through;
- the directory: `observe_directory(...)` is the hook the LDAP connection code calls per
  server, bind and search (see directory/ldap_pool.py);
- HTTP: `observe_http`, called by idp/server/edge.py, by route template (never the raw path).

Metrics are per process. Run one worker per replica (`idp serve --workers 1`, the compose file
does) and let Prometheus scrape every replica; labels are bounded (registered client ids, route
templates, outcome names from the code), never request input.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event

from idp.db.audit import Audit
from idp.db.models import LogoutDelivery
from idp.db.releases import ReleaseLog

# seconds; a login-path directory call should take milliseconds, a slow one hundreds
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_GRANTS = frozenset({"authorization_code", "refresh_token", "client_credentials"})

LOGINS = Counter("idp_logins_total", "Login attempts at the login page, by outcome "
                 "(success, invalid_credentials, account_locked, throttled, ...).", ["outcome"])
QR_SIGNINS = Counter("idp_qr_signins_total", "QR sign-in steps, by outcome (shown, scanned, "
                     "confirmed, refused, signed_in, wrong_browser, ...).", ["outcome"])
TOKENS = Counter("idp_tokens_issued_total", "Token responses issued, by grant type and client.",
                 ["grant_type", "client_id"])
TOKEN_FAILURES = Counter("idp_token_failures_total", "Refused or revoked token events, by grant "
                         "type and outcome (invalid_grant, code_replay, refresh_reuse, ...).",
                         ["grant_type", "outcome"])
LOGOUTS = Counter("idp_logouts_total", "SSO sessions ended, by reason.", ["reason"])
BACKCHANNEL = Counter("idp_backchannel_logout_deliveries_total", "Back-channel logout "
                      "deliveries by client and final outcome (delivered, failed).",
                      ["client_id", "outcome"])
DIRECTORY_LATENCY = Histogram("idp_directory_operation_seconds", "Directory operations by LDAP "
                              "server and operation (bind, search).", ["server", "operation"],
                              buckets=_LATENCY_BUCKETS)
DIRECTORY_ERRORS = Counter("idp_directory_errors_total", "Directory operations that failed, by "
                           "server, operation and error kind.", ["server", "operation", "kind"])
LAST_KNOWN = Counter("idp_directory_last_known_total", "While the directory was unreachable: "
                     "people served from their last-known copy (person), offline logins let "
                     "in (login), offline logins that could not be checked (refused).", ["use"])
DIRECTORY_DEGRADED = Gauge("idp_directory_degraded", "1 while the directory is unreachable and "
                           "its last-known people are served instead, else 0.")
STORE_LATENCY = Histogram("idp_store_operation_seconds", "Store (Redis or in-process) calls by "
                          "operation.", ["operation"], buckets=_LATENCY_BUCKETS)
STORE_ERRORS = Counter("idp_store_errors_total", "Store calls that raised, by operation.",
                       ["operation"])
AUDIT_HELD = Gauge("idp_audit_held_events", "Audit events held in memory while the database is "
                   "away; written when it is back (see IDP_AUDIT_BACKLOG).")
RELEASES_PENDING = Gauge("idp_releases_pending", "Attribute-release entries not yet written "
                         "(gathering for the next write, or held while the database is away).")
RELEASES_DROPPED = Counter("idp_releases_dropped_total", "Attribute releases not recorded: the "
                           "entries held while the database was away filled IDP_RELEASES_BACKLOG, "
                           "or the database refused them.")
HTTP_REQUESTS = Histogram("idp_http_request_duration_seconds", "HTTP requests by method, route "
                          "template and status class.", ["method", "route", "status"],
                          buckets=_LATENCY_BUCKETS)


def _bounded(value: object, limit: int = 40) -> str:
    text = str(value) if value is not None else "none"
    return text[:limit]


# --- audit-backed counters ---------------------------------------------------------------------

# prometheus_client's labels() checks its arguments and takes a lock on every call (several µs
# per token): the children are kept here by their label values, bounded as each caller says
_CHILDREN: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    """The child of a labelled metric, values in the order of its label names."""
    key = (metric, *values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


def observe_audit(kind: str, outcome: str, client_id: str | None, detail: dict[str, Any]) -> None:
    if kind == "login":
        _child(LOGINS, _bounded(outcome)).inc()
    elif kind == "token":
        grant = detail.get("grant")
        grant = grant if grant in KNOWN_GRANTS else "other"
        if outcome == "success" and client_id:
            # success: the client authenticated, so its id is a registered one (bounded)
            _child(TOKENS, grant, _bounded(client_id, 64)).inc()
        else:
            _child(TOKEN_FAILURES, grant, _bounded(outcome)).inc()
    elif kind == "qr":
        _child(QR_SIGNINS, _bounded(outcome)).inc()
    elif kind == "logout" and outcome == "success":
        _child(LOGOUTS, _bounded(detail.get("reason"))).inc()


class MeteredAudit(Audit):
    """The audit log, counting each event for Prometheus before it is written, and showing how
    many wait for the database while it is away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        this = weakref.ref(self)  # the gauge must not keep an Audit of a closed app alive
        AUDIT_HELD.set_function(lambda: float(audit.held) if (audit := this()) else 0.0)

    def _observe(self, kind: str, outcome: str, client_id: str | None,
                 detail: dict[str, Any]) -> None:
        # every token, also those audited as a minute's summary (IDP_AUDIT_MACHINE_TOKENS)
        observe_audit(kind, outcome, client_id, detail)


class MeteredReleaseLog(ReleaseLog):
    """The attribute-release record, showing what waits to be written and counting what was
    dropped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        this = weakref.ref(self)
        RELEASES_PENDING.set_function(lambda: float(log.pending) if (log := this()) else 0.0)

    def _dropped(self, count: int) -> None:
        RELEASES_DROPPED.inc(count)
        super()._dropped(count)


@event.listens_for(LogoutDelivery.status, "set")
def _delivery_outcome(target: LogoutDelivery, value: str, _old: object, _initiator: object) -> None:
    if value in ("delivered", "failed"):
        BACKCHANNEL.labels(client_id=_bounded(target.client_id, 64), outcome=value).inc()


# --- directory hook ----------------------------------------------------------------------------

def observe_directory(server: str, operation: str, seconds: float, error: str | None = None) -> None:
    """Call once per LDAP bind or search: `server` the URI that answered (or was tried),
    `operation` "bind" / "search", `error` a short kind ("unavailable", "invalid_credentials",
    ...) when it failed."""
    _child(DIRECTORY_LATENCY, _bounded(server, 100), operation).observe(seconds)
    if error is not None:
        _child(DIRECTORY_ERRORS, _bounded(server, 100), operation, _bounded(error)).inc()


def observe_last_known(event: str) -> None:
    """The hook of directory/last_known.py: "person", "login", "refused", "down", "up"."""
    if event == "down":
        DIRECTORY_DEGRADED.set(1)
    elif event == "up":
        DIRECTORY_DEGRADED.set(0)
    elif event in ("person", "login", "refused"):
        _child(LAST_KNOWN, event).inc()


# --- Store timing ------------------------------------------------------------------------------

class MeteredStore:
    """Wraps a Store: same methods, each call timed. Non-coroutine attributes pass through."""

    def __init__(self, store: Any) -> None:
        self._store = store

    @property
    def wrapped(self) -> Any:
        return self._store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        latency, errors = STORE_LATENCY.labels(operation=name), STORE_ERRORS.labels(operation=name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            except Exception:
                errors.inc()
                raise
            finally:
                latency.observe(time.perf_counter() - started)

        setattr(self, name, timed)  # built once per method: later calls skip __getattr__
        return timed


# --- HTTP --------------------------------------------------------------------------------------

def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    """Request latency by route template ("/login/{interaction_id}"), method and status class;
    idp/server/edge.py calls it once per request."""
    method = method if method in _METHODS else "other"  # the client picks it: bound it first
    labels = (method, route, status // 100)
    histogram = _HTTP_CHILDREN.get(labels)
    if histogram is None:
        histogram = _HTTP_CHILDREN[labels] = HTTP_REQUESTS.labels(
            method=method, route=route,
            status=f"{status // 100}xx" if 1 <= status // 100 <= 5 else "other")
    histogram.observe(seconds)


_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# keys are bounded (known methods, the app's route templates or "unmatched", status classes)
_HTTP_CHILDREN: dict[tuple[str, str, int], Any] = {}
