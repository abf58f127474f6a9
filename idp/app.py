"""create_app(settings): the FastAPI application. Backends are opened once (`open_services`),
in the lifespan, and reach routes through `request.app.state.services` (idp/services.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from directory.base import Directory
from directory.factory import open_directory, open_writer
from directory.last_known import LastKnownConfig, LastKnownDirectory
from idp.db.engine import close_engine, open_engine, sessionmaker
from idp.db.migrate import upgrade
from idp.db.pg_direct import pg_direct
from idp.db.purge import purge_forever
from idp.keys.ring import KeyRing
from idp.monitoring.metrics import (
    MeteredAudit,
    MeteredReleaseLog,
    MeteredStore,
    observe_directory,
    observe_last_known,
)
from idp.protocols.cas.logout import CasSingleLogout
from idp.protocols.oidc.backchannel import BackChannelLogout
from idp.protocols.oidc.ledger import OidcGrants
from idp.server import errors
from idp.server.edge import Edge
from idp.server.routes import RouteTable, include_routes
from idp.services import Services
from idp.settings import Settings
from idp.sso.logout import SingleLogout
from idp.sso.revocation import PersonRevocation
from idp.sso.revoked import RevokedList
from idp.sso.sessions import SessionManager
from idp.sso.signins import SignIns
from idp.store import open_store
from idp.upstream.registry import Upstreams

log = logging.getLogger("idp")

# How often a process looks for a key rotation made elsewhere (`idp keys rotate`, another replica
# sharing IDP_KEYS_DIR): a rotation reaches every replica's JWKS within this many seconds.
KEY_RELOAD_SECONDS = 5.0


async def open_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Open every backend once, and wire the sign-in core to the protocols: each protocol that
    signs people in says how its apps hear of a single logout, and what it revokes when
    everything of a person is revoked."""
    if migrate:
        await upgrade(settings.database_url)
    engine = open_engine(settings.database_url)
    store = MeteredStore(open_store(settings))  # every Store call timed for /metrics
    directory = open_directory(settings.directory, settings.ldap, engine,
                               observe_directory,  # LDAP latency per server
                               links=settings.identities)
    writer = open_writer(directory)
    directory = with_last_known(settings, directory, engine)
    sessions = SessionManager(store, settings.session.ttl)
    audit = MeteredAudit(sessionmaker(engine), backlog=settings.audit_backlog,
                         machine_tokens=settings.audit_machine_tokens)
    logout = SingleLogout(sessions, audit)
    revoked = RevokedList(store)
    services = Services(
        settings=settings, engine=engine, db=sessionmaker(engine), store=store,
        directory=directory, keys=KeyRing.open(settings.keys_dir), sessions=sessions,
        signins=SignIns(store), logout=logout, audit=audit, writer=writer,
        releases=MeteredReleaseLog(engine, backlog=settings.releases.backlog,
                                   retention_days=settings.releases.retention_days),
        revocation=PersonRevocation(revoked, sessions, logout, audit), revoked=revoked,
        upstreams=Upstreams(settings, store, sessionmaker(engine)),
    )
    services.logout.add_notifier(BackChannelLogout(services))
    services.logout.add_notifier(CasSingleLogout(services))
    services.revocation.add_revoker(OidcGrants(services))
    return services


def with_last_known(settings: Settings, directory: Directory, engine: AsyncEngine) -> Directory:
    """The campus LDAP, able to serve its last-known people (and, opted in, offline logins)
    while it is unreachable (directory/last_known.py). Not the local directory: it lives in the
    database that would hold the copy, so it has no outage the copy could bridge."""
    if settings.directory != "ldap" or settings.directory_max_staleness <= 0:
        return directory
    config = LastKnownConfig(
        max_staleness=settings.directory_max_staleness,
        offline_login=settings.directory_offline_login,
        offline_login_days=settings.directory_offline_login_days,
        never_offline_groups=frozenset({settings.access.admin_group}),
    )
    direct = pg_direct(engine)
    return LastKnownDirectory(directory, engine, config, observe_last_known,
                              upsert=direct.upsert_last_known if direct is not None else None)


async def close_services(services: Services) -> None:
    if services.writer is not services.directory:
        await services.writer.close()
    await services.directory.close()
    await services.revoked.close()
    await services.store.close()
    await services.audit.close()  # rows still queued for the group commit
    await services.releases.close()  # releases still folding in, behind the responses
    await close_engine(services.engine)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app. Pass `services` to share already-open backends (tests, the demo)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or await open_services(settings)
        opened: Services = app.state.services
        # each process follows the revoked list (idp/sso/revoked.py)
        following = opened.revoked.start()
        reloader = asyncio.create_task(_reload_keys(opened.keys))
        # every replica runs it; one at a time purges (idp/db/purge.py)
        purger = asyncio.create_task(purge_forever(opened.engine, settings.retention,
                                                   opened.store), name="purge") \
            if settings.retention.background else None
        try:
            yield
        finally:
            reloader.cancel()
            if following:
                await opened.revoked.close()
            if purger is not None:
                purger.cancel()
            if own:
                await close_services(app.state.services)

    app = IdpApp(title="campus-idp", version="0.1.0", lifespan=lifespan, docs_url="/docs")
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    include_routes(app)
    errors.install(app)
    # the proxy headers first, in the app itself, so that every server it runs under (`idp
    # serve`, the tests, the demo, the bench's granian) sees the same client address and scheme
    edge = Edge(app, super(IdpApp, app).__call__, settings, RouteTable.of(app))
    app.edge = ProxyHeadersMiddleware(edge, trusted_hosts=settings.trusted_proxies)
    app.document_answer = edge.document_answer
    return app


class IdpApp(FastAPI):
    """FastAPI, entered for every HTTP request through the trusted proxies' X-Forwarded-For /
    X-Forwarded-Proto (`trusted_proxies`), then idp/server/edge.py's one layer (request id, limits,
    headers, metrics, access log, the protocol endpoints dispatched directly)."""

    edge: Any
    # Edge.document_answer: `idp serve`'s protocol answers a plain GET of a document with it
    document_answer: Any

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["app"] = self
            await self.edge(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _reload_keys(keys: KeyRing) -> None:
    """Adopt rotations made by other processes. Parsing a new RSA key costs ~50 ms of CPU, so it
    runs in a thread, never on the event loop."""
    while True:
        await asyncio.sleep(KEY_RELOAD_SECONDS)
        try:
            await asyncio.to_thread(keys.reload_if_changed)
        except Exception:  # noqa: BLE001 - a bad file must not stop the server; KeyRing logs it
            log.exception("key reload failed")
