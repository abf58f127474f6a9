"""create_app(settings): the FastAPI application. Backends are opened once, in the lifespan,
and reach routes through `request.app.state.services` (FastAPI dependencies in idp/deps.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.types import Receive, Scope, Send

from directory.base import Directory
from directory.writes import DirectoryWriter
from idp.audit import Audit
from idp.db.engine import close_engine, open_engine, sessionmaker
from idp.interaction import Interactions
from idp.keys import KeyRing
from idp.sessions import SessionManager
from idp.settings import Settings
from idp.store import Store, open_store

log = logging.getLogger("idp")

# How often a process looks for a key rotation made elsewhere (`idp keys rotate`, another replica
# sharing IDP_KEYS_DIR): a rotation reaches every replica's JWKS within this many seconds.
KEY_RELOAD_SECONDS = 5.0


@dataclass
class Services:
    """Everything a request may need, opened once per process."""

    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker
    store: Store
    directory: Directory
    keys: KeyRing
    sessions: SessionManager
    interactions: Interactions
    audit: Audit
    writer: DirectoryWriter  # writes people: the local directory itself, or LDAP's admin bind


async def open_services(settings: Settings, *, migrate: bool = True) -> Services:
    from directory.factory import open_directory, open_writer
    from idp.db.migrate import upgrade
    from idp.metrics import MeteredAudit, MeteredStore, observe_directory

    if migrate:
        await upgrade(settings.database_url)
    engine = open_engine(settings.database_url)
    store = MeteredStore(open_store(settings))  # every Store call timed for /metrics
    directory = open_directory(settings.directory, settings.ldap, engine,
                               observe_directory)  # LDAP latency per server
    keys = KeyRing.open(settings.keys_dir)
    return Services(
        settings=settings, engine=engine, db=sessionmaker(engine), store=store,
        directory=directory, keys=keys, sessions=SessionManager(store, settings.session.ttl),
        interactions=Interactions(store), audit=MeteredAudit(sessionmaker(engine)),
        writer=open_writer(directory),
    )


async def close_services(services: Services) -> None:
    if services.writer is not services.directory:
        await services.writer.close()
    await services.directory.close()
    await services.store.close()
    await services.audit.close()  # rows still queued for the group commit
    await close_engine(services.engine)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app. Pass `services` to share already-open backends (tests, the demo)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or await open_services(settings)
        reloader = asyncio.create_task(_reload_keys(app.state.services.keys))
        try:
            yield
        finally:
            reloader.cancel()
            if own:
                await close_services(app.state.services)

    app = IdpApp(title="campus-idp", version="0.1.0", lifespan=lifespan, docs_url="/docs")
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    _include_routers(app)
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from idp.edge import Edge

    # the proxy headers first, in the app itself, so that every server it runs under (`idp
    # serve`, the tests, the demo, the bench's granian) sees the same client address and scheme
    app.edge = ProxyHeadersMiddleware(Edge(app, super(IdpApp, app).__call__, settings),
                                      trusted_hosts=settings.trusted_proxies)
    return app


class IdpApp(FastAPI):
    """FastAPI, entered for every HTTP request through the trusted proxies' X-Forwarded-For /
    X-Forwarded-Proto (`trusted_proxies`), then idp/edge.py's one layer (request id, limits,
    headers, metrics, access log, the protocol endpoints dispatched directly)."""

    edge: Any

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


def _include_routers(app: FastAPI) -> None:
    # one readable list of what is served; each package owns its router
    from idp.admin.api import router as admin_api_router
    from idp.admin.console import router as admin_console_router
    from idp.admin.portal import router as portal_router
    from idp.admin.registration import router as registration_router
    from idp.health import router as health_router
    from idp.metrics import router as metrics_router
    from idp.oauth.routes import router as oauth_router
    from idp.web.routes import router as web_router

    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(oauth_router)
    app.include_router(web_router)
    app.include_router(registration_router)
    app.include_router(portal_router)
    app.include_router(admin_api_router)
    app.include_router(admin_console_router)
