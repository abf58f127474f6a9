"""The apps registry, whatever protocol they speak: OpenID Connect clients and CAS services are
rows of one table (`clients`, with a `protocol` column), so access rules, the admin console, the
developer portal and the audit log treat them alike. Lookups by id are cached briefly.
"""

from __future__ import annotations

import secrets
import time
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import Client

CACHE_SECONDS = 30.0
MAX_APP_ID = 64


def new_app_id() -> str:
    """A new app's id: 144 random bits, URL-safe, beginning with a letter or digit. An id that
    began with `-` read as an option on the command line (`idp clients show -x…`) and, like
    one beginning with `_`, sat oddly in URLs and logs; a CSV export had to write it as a text
    cell (`'-x…`, idp/http/csv_cells.py), no longer the id itself."""
    while True:
        app_id = secrets.token_urlsafe(18)
        if app_id[0].isalnum():
            return app_id


async def get_client(db: async_sessionmaker, client_id: str) -> Client | None:
    if not client_id or len(client_id) > MAX_APP_ID:
        return None
    async with db() as session:
        return await session.get(Client, client_id)


async def list_clients(db: async_sessionmaker, protocol: str | None = None) -> list[Client]:
    statement = select(Client).order_by(Client.created_at)
    if protocol is not None:
        statement = statement.where(Client.protocol == protocol)
    async with db() as session:
        return list((await session.execute(statement)).scalars())


class ClientCache:
    """Apps by id, kept `CACHE_SECONDS` in this process. Every replica sees a change within that
    bound; this process sees its own changes at once (`invalidate`)."""

    def __init__(self, db: async_sessionmaker, seconds: float = CACHE_SECONDS) -> None:
        self.db = db
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Client]] = {}

    async def get(self, client_id: str) -> Client | None:
        """The app if it exists (any status); misses are not cached, so unknown ids cannot
        fill the cache."""
        now = time.monotonic()
        entry = self._entries.get(client_id)
        if entry is not None and now - entry[0] < self.seconds:
            return entry[1]
        client = await get_client(self.db, client_id)
        if client is None:
            self._entries.pop(client_id, None)
            return None
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[client_id] = (now, client)
        return client

    def invalidate(self, client_id: str | None = None) -> None:
        if client_id is None:
            self._entries.clear()
        else:
            self._entries.pop(client_id, None)


_caches: WeakKeyDictionary[async_sessionmaker, ClientCache] = WeakKeyDictionary()


def client_cache(db: async_sessionmaker) -> ClientCache:
    """The one cache for this database in this process."""
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = ClientCache(db)
    return cache


def invalidate_client(db: async_sessionmaker, client_id: str | None = None) -> None:
    """Call after changing an app (admin console, developer portal, secret rotation)."""
    client_cache(db).invalidate(client_id)
