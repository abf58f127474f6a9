"""The apps a person may open from the app portal at `/` ("我的应用"): every active app with a
home page whose access rule lets the person in, most recently used first.

An app's card is three fields of its `extra`, the names RFC 7591 gives two of them so that a
dynamically registered client's metadata fills them too: `client_uri` (the home page the card
links to; the app signs the person in silently through SSO), `logo_uri` (its icon) and
`description` (one line). Set with `idp clients add --home-url --icon-url --description`, in the
console, the admin API and the developer portal (checked by idp/admin/app_cards.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from directory.base import Person
from idp.db.models import AuditEvent, Client
from idp.sso.access import AccessRule

# what an app's card shows: the field names in `extra`, and the limits the forms apply
CARD_FIELDS = ("client_uri", "logo_uri", "description")
MAX_DESCRIPTION = 200
RECENT_DAYS = 90


@dataclass(frozen=True)
class AppCard:
    client_id: str
    name: str
    home_url: str
    icon_url: str | None
    description: str
    last_used: datetime | None


def card_fields(extra: Mapping[str, Any] | None) -> dict[str, str]:
    return {key: str((extra or {}).get(key) or "") for key in CARD_FIELDS}


def _visible(client: Client, person: Person) -> bool:
    extra = client.extra or {}
    return (client.status == "active" and not extra.get("internal")
            and bool(extra.get("client_uri")) and AccessRule.of(extra).allows(person))


async def _last_used(db: async_sessionmaker, person: Person) -> dict[str, datetime]:
    """When the person last signed in to each app: the audit log's password sign-ins, OIDC
    tokens (codes redeemed, refreshes) and CAS tickets, found by the actor index."""
    since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
    statement = (select(AuditEvent.client_id, func.max(AuditEvent.at))
                 .where(or_(AuditEvent.actor == person.username, AuditEvent.actor == person.subject),
                        AuditEvent.kind.in_(("login", "token", "cas")), AuditEvent.client_id.is_not(None),
                        AuditEvent.outcome.in_(("success", "ticket_issued")),
                        AuditEvent.at >= since)
                 .group_by(AuditEvent.client_id))
    async with db() as session:
        rows = (await session.execute(statement)).all()
    return {client_id: at for client_id, at in rows if at is not None}


async def cards_for(db: async_sessionmaker, person: Person, query: str = "") -> list[AppCard]:
    """The person's apps, most recently used first, then by name; `query` keeps those whose
    name or description contains it (case-insensitive)."""
    async with db() as session:
        clients = list((await session.execute(
            select(Client).where(Client.status == "active"))).scalars())
    used = await _last_used(db, person)
    wanted = query.strip().casefold()
    cards = []
    for client in clients:
        if not _visible(client, person):
            continue
        fields = card_fields(client.extra)
        if wanted and wanted not in client.name.casefold() \
                and wanted not in fields["description"].casefold():
            continue
        cards.append(AppCard(client.client_id, client.name, fields["client_uri"],
                             fields["logo_uri"] or None, fields["description"],
                             used.get(client.client_id)))
    cards.sort(key=lambda c: (c.last_used is None,
                              -c.last_used.timestamp() if c.last_used else 0.0,
                              c.name.casefold()))
    return cards

