"""The CAS service registry: CAS services are apps in the clients table (protocol "cas"), each
with the service URLs it may use (exact URLs, or regular expressions anchored with ^ and $), an
optional single logout URL, the attributes it may receive and the proxy callbacks it may use.

CAS Protocol 3.0 §2.2.1: a server in non-open mode MUST refuse a service that is not registered;
campus-idp has no open mode. Lookups by URL read every active CAS service from a snapshot kept
`SNAPSHOT_SECONDS` in this process (a new service is seen at once: a miss re-reads the table,
at most once a second, so unknown URLs cannot hammer the database).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import Client
from idp.protocols.cas.attributes import DEFAULT_ATTRIBUTES, check_names
from idp.sso.apps import client_cache, invalidate_client, new_app_id

SNAPSHOT_SECONDS = 30.0
MISS_RELOAD_SECONDS = 1.0
MAX_SERVICE = 2048


def normalised(url: str) -> str:
    """A service URL as compared: scheme and host in lower case, the default port dropped;
    path, query and the rest exactly as given."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if (scheme, port) in (("https", 443), ("http", 80)):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def is_pattern(entry: str) -> bool:
    return entry.startswith("^") and entry.endswith("$")


def check_entry(entry: str, what: str) -> str:
    """An exact https URL (http on loopback hosts) or an anchored regular expression."""
    if not isinstance(entry, str) or not entry or entry != entry.strip():
        raise ValueError(f"{what} {entry!r} must be a URL or a pattern without surrounding spaces")
    if is_pattern(entry):
        try:
            re.compile(entry)
        except re.error as exc:
            raise ValueError(f"{what} {entry!r} is not a valid regular expression: {exc}") from None
        return entry
    parts = urlsplit(entry)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{what} {entry!r} must be an absolute https URL, or a pattern "
                         "anchored with ^ and $")
    if parts.scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
        raise ValueError(f"{what} {entry!r} must use https (http only on localhost)")
    return entry


def _matches(entries: list[str], url: str) -> bool:
    wanted = normalised(url)
    for entry in entries:
        if is_pattern(entry):
            if re.fullmatch(entry, url):
                return True
        elif normalised(entry) == wanted:
            return True
    return False


@dataclass(frozen=True)
class CasService:
    app_id: str
    name: str
    status: str
    services: tuple[str, ...]
    slo_url: str | None
    attributes: tuple[str, ...]
    proxy_callbacks: tuple[str, ...]
    extra: dict[str, Any]  # the app's extra (its second-factor rule, access rules)

    @classmethod
    def of(cls, row: Client) -> CasService:
        cas = (row.extra or {}).get("cas") or {}
        return cls(
            app_id=row.client_id, name=row.name, status=row.status,
            services=tuple(cas.get("services") or ()), slo_url=cas.get("slo_url"),
            attributes=tuple(cas.get("attributes") or ()),
            proxy_callbacks=tuple(cas.get("proxy_callbacks") or ()), extra=dict(row.extra or {}))

    def serves(self, url: str) -> bool:
        return _matches(list(self.services), url)

    def may_proxy_to(self, callback: str) -> bool:
        return _matches(list(self.proxy_callbacks), callback)


class Registry:
    def __init__(self, db: async_sessionmaker) -> None:
        self.db = db
        self._services: list[CasService] = []
        self._loaded = float("-inf")

    async def find(self, url: str | None) -> CasService | None:
        """The active CAS service registered for this URL (the first registered wins)."""
        if not url or len(url) > MAX_SERVICE:
            return None
        now = time.monotonic()
        if now - self._loaded > SNAPSHOT_SECONDS:
            await self._load(now)
        found = self._first(url)
        if found is None and now - self._loaded > MISS_RELOAD_SECONDS:
            await self._load(now)
            found = self._first(url)
        return found

    async def by_id(self, app_id: str) -> CasService | None:
        """The active CAS service with this id (through the apps cache: every validation asks)."""
        row = await client_cache(self.db).get(app_id)
        if row is None or row.protocol != "cas" or row.status != "active":
            return None
        return CasService.of(row)

    def _first(self, url: str) -> CasService | None:
        return next((service for service in self._services if service.serves(url)), None)

    async def _load(self, now: float) -> None:
        async with self.db() as session:
            rows = await session.execute(
                select(Client).where(Client.protocol == "cas", Client.status == "active")
                .order_by(Client.created_at))
            self._services = [CasService.of(row) for row in rows.scalars()]
        self._loaded = now

    def invalidate(self) -> None:
        self._loaded = float("-inf")


_registries: WeakKeyDictionary[async_sessionmaker, Registry] = WeakKeyDictionary()


def registry(db: async_sessionmaker) -> Registry:
    """The one registry for this database in this process."""
    found = _registries.get(db)
    if found is None:
        found = _registries[db] = Registry(db)
    return found


async def create_service(
    db: async_sessionmaker, *, name: str, services: list[str] | tuple[str, ...],
    slo_url: str | None = None, attributes: list[str] | tuple[str, ...] | None = None,
    proxy_callbacks: list[str] | tuple[str, ...] = (), status: str = "active",
    owner: str | None = None, extra: dict[str, Any] | None = None,
) -> Client:
    """Register a CAS service. Raises ValueError with a readable message for bad metadata."""
    if not name or not name.strip():
        raise ValueError("a CAS service needs a name")
    if not services:
        raise ValueError("a CAS service needs at least one --service URL or pattern")
    checked = [check_entry(entry, "service") for entry in services]
    if slo_url:
        check_entry(slo_url, "single logout URL")
        if is_pattern(slo_url):
            raise ValueError("the single logout URL must be a URL, not a pattern")
    callbacks = [check_entry(entry, "proxy callback") for entry in proxy_callbacks]
    for callback in callbacks:
        if not is_pattern(callback) and not callback.startswith("https://"):
            raise ValueError(f"proxy callback {callback!r} must be https (CAS 3.0 §2.5.4)")
    released = check_names(attributes if attributes is not None else DEFAULT_ATTRIBUTES)
    if status not in ("active", "pending", "disabled"):
        raise ValueError(f"unknown status {status!r}")
    client = Client(
        client_id=new_app_id(), protocol="cas", name=name.strip(),
        redirect_uris=[], post_logout_redirect_uris=[], grant_types=[], response_types=[],
        scopes=[], token_endpoint_auth_method="none", skip_consent=True, status=status,
        owner=owner, extra={**(extra or {}), "cas": {
            "services": checked, "slo_url": slo_url or None, "attributes": released,
            "proxy_callbacks": callbacks}},
    )
    async with db() as session, session.begin():
        session.add(client)
    registry(db).invalidate()
    invalidate_client(db, client.client_id)
    return client
