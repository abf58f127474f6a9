"""CAS tickets in the Store (CAS Protocol 3.0 §3).

- Service tickets `ST-` and proxy tickets `PT-`: 48 random characters of [A-Za-z0-9-] after
  the prefix (§3.7), one validation attempt each, pass or fail (§3.1.1): they are taken out of
  the Store atomically before anything is checked. Each is bound to the service it was issued
  for, says whether it came from a login that just asked for the password (`renew`, §2.5.1), and
  names the SSO session, so that single logout can tell the service which ticket ended.
- Proxy-granting tickets `PGT-` (§3.3): many uses, dead with the SSO session they came from; the
  session keeps the list of its PGTs so that single logout deletes them.
- PGT IOUs `PGTIOU-` (§3.4) are random too: nothing can be derived from one.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field

from idp.store.base import Store
from idp.store.records import record_json

_ALPHABET = string.ascii_letters + string.digits + "-"
RANDOM_CHARS = 48
MAX_TICKET = 256  # what the spec asks services to accept; anything longer is not ours


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_CHARS))


def well_formed(ticket: str, prefixes: tuple[str, ...]) -> bool:
    if not (0 < len(ticket) <= MAX_TICKET) or not ticket.startswith(prefixes):
        return False
    return all(char in _ALPHABET for char in ticket)


@dataclass(slots=True)
class Ticket:
    """A service or proxy ticket: who, for which service, from which session."""

    service: str  # the exact service URL it was issued for
    app_id: str  # the registered CAS service (a row of the clients table)
    subject: str
    sid: str  # the SSO session
    auth_time: int
    new_login: bool  # issued by the login that asked for the password (renew may accept it)
    amr: list[str] = field(default_factory=list)
    proxies: list[str] = field(default_factory=list)  # proxy tickets: the chain, newest first


@dataclass(slots=True)
class ProxyGrant:
    """A proxy-granting ticket: the callback URL that received it and the chain behind it."""

    callback: str
    app_id: str
    subject: str
    sid: str
    auth_time: int
    proxies: list[str] = field(default_factory=list)


class Tickets:
    def __init__(self, store: Store, ticket_ttl: int, session_ttl: int) -> None:
        self.store = store
        self.ticket_ttl = ticket_ttl
        self.session_ttl = session_ttl

    async def issue(self, prefix: str, ticket: Ticket) -> str:
        ticket_id, item = self.prepare(prefix, ticket)
        await self.store.put(*item)
        return ticket_id

    def prepare(self, prefix: str, ticket: Ticket) -> tuple[str, tuple[str, str, int]]:
        """A new ticket's id and its Store item (key, value, ttl), for a caller that writes it
        together with other items (`Store.write_many`)."""
        ticket_id = new_id(prefix)
        return ticket_id, (f"cas-ticket:{ticket_id}", record_json(ticket),
                           self.ticket_ttl)

    async def take(self, ticket_id: str) -> Ticket | None:
        """The ticket, used up whatever the validation decides (one attempt, §3.1.1)."""
        raw = await self.store.take(f"cas-ticket:{ticket_id}")
        return Ticket(**json.loads(raw)) if raw else None

    async def grant(self, grant: ProxyGrant, ttl: int) -> str:
        pgt = new_id("PGT-")
        await self.store.put(f"cas-pgt:{pgt}", record_json(grant), ttl)
        await self.store.set_add(f"cas-pgts:{grant.sid}", pgt, self.session_ttl)
        return pgt

    async def proxy_grant(self, pgt: str) -> ProxyGrant | None:
        raw = await self.store.get(f"cas-pgt:{pgt}")
        return ProxyGrant(**json.loads(raw)) if raw else None

    async def withdraw(self, pgt: str) -> None:
        await self.store.delete(f"cas-pgt:{pgt}")

    async def end_session(self, sid: str) -> None:
        """The SSO session ended: its proxy-granting tickets end with it (§3.3.1)."""
        grants = await self.store.set_members(f"cas-pgts:{sid}")
        await self.store.delete(f"cas-pgts:{sid}", *(f"cas-pgt:{pgt}" for pgt in grants))
