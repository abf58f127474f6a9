"""What the purge deletes: each kind of record, when it has ended, and how long it is kept after
(IDP_RETENTION_*, README "Data retention"). A kind kept 0 days is kept forever.

Each kind is one table and one condition on its own columns, so a batch is one indexed scan and
one DELETE by primary key. What never expires, on purpose:
- clients, people's second factors (TOTP, passkeys, recovery codes, used ones included: a handful
  per person, and the record of which were spent), upstream bindings and activation marks: they
  live until a person or an admin removes them, never by age;
- the local directory's people and groups (the source of truth, not a record of the past);
- the last-known copies of LDAP people: directory/last_known.py ages them out itself
  (IDP_DIRECTORY_MAX_STALENESS, IDP_DIRECTORY_OFFLINE_LOGIN_DAYS).
Short-lived state (sessions, codes, tickets) lives in the Store with a TTL, never here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select

from idp.db.admin_models import InitialAccessToken
from idp.db.models import AuditEvent, Client, Consent, IdentityDefault, LogoutDelivery, RefreshToken
from idp.settings import RetentionSettings

# the machine tokens' audit rows (one per token, or one per client per minute): kind "token",
# success, grant client_credentials (idp/protocols/oidc/server.py, idp/db/machine_audit.py)
_MACHINE = and_(AuditEvent.kind == "token", AuditEvent.outcome == "success",
                func.coalesce(AuditEvent.detail["grant"].as_string(), "") == "client_credentials")
_APPS = select(Client.client_id)


@dataclass(frozen=True)
class Kind:
    """One kind of record: `ended(cutoff)` is true of the rows that ended before `cutoff`."""

    name: str
    what: str  # for people: what these rows are
    model: Any
    key: Any  # the primary key column, by which a batch deletes
    ended: Callable[[datetime], ColumnElement[bool]]
    days: int  # kept this long after they ended; 0: forever
    # the column the table is partitioned by (PostgreSQL's audit months): a batch's DELETE is
    # bounded by its values, so it looks only in the partitions that hold the batch
    span: Any = None


def kinds(retention: RetentionSettings) -> list[Kind]:
    """Every kind the purge knows, with the days the settings keep it."""
    return [
        Kind("audit", "audit events of people, admins and developers", AuditEvent, AuditEvent.id,
             lambda cutoff: and_(AuditEvent.at < cutoff, not_(_MACHINE)),
             retention.audit_days, AuditEvent.at),
        Kind("machine_audit", "audit events of machine tokens (client_credentials)", AuditEvent,
             AuditEvent.id, lambda cutoff: and_(AuditEvent.at < cutoff, _MACHINE),
             retention.machine_audit_days, AuditEvent.at),
        Kind("refresh_tokens", "refresh tokens expired or revoked", RefreshToken,
             RefreshToken.digest,
             lambda cutoff: or_(RefreshToken.expires_at < cutoff, RefreshToken.revoked_at < cutoff),
             retention.refresh_token_days),
        Kind("logout_deliveries", "back-channel logout deliveries finished", LogoutDelivery,
             LogoutDelivery.id,
             lambda cutoff: and_(LogoutDelivery.status.in_(("delivered", "failed")),
                                 func.coalesce(LogoutDelivery.delivered_at,
                                               LogoutDelivery.created_at) < cutoff),
             retention.logout_delivery_days),
        Kind("initial_access_tokens", "initial access tokens expired or revoked",
             InitialAccessToken, InitialAccessToken.digest,
             lambda cutoff: or_(InitialAccessToken.expires_at < cutoff,
                                InitialAccessToken.revoked_at < cutoff),
             retention.initial_access_token_days),
        # an app deleted and registered again under the same id must not inherit the consents
        # and identity choices people gave the old one
        Kind("consents_of_deleted_apps", "consents given to apps that no longer exist", Consent,
             Consent.id,
             lambda cutoff: and_(Consent.granted_at < cutoff, Consent.client_id.not_in(_APPS)),
             retention.deleted_app_days),
        Kind("identity_choices_of_deleted_apps", "identity choices for apps that no longer exist",
             IdentityDefault, IdentityDefault.id,
             lambda cutoff: and_(IdentityDefault.chosen_at < cutoff,
                                 IdentityDefault.client_id.not_in(_APPS)),
             retention.deleted_app_days),
    ]


def cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
