"""A real campus-idp over real HTTP, for tests: uvicorn serving create_app() on a free port.

The server runs as a task on the tests' own (session-scoped) event loop, so tests and server
share the same open Services (the in-process store included). Tests must therefore use async
HTTP clients (httpx.AsyncClient, authlib's AsyncOAuth2Client): a blocking client would stall
the very loop that serves it.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from directory.demo_people import seed_local
from idp.app import Services, close_services, create_app, open_services
from idp.server.transport import IdpHttpProtocol
from idp.settings import Settings, load_settings


@dataclass
class LiveIdp:
    base_url: str
    settings: Settings
    services: Services
    server: uvicorn.Server
    task: asyncio.Task[None]
    slapd: Any = None  # the CampusSlapd behind an LDAP-backed server, for tests that write people

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A fresh browser-like client (own cookie jar) that does not follow redirects."""
        kwargs.setdefault("timeout", 20)
        return httpx.AsyncClient(base_url=self.base_url, follow_redirects=False, **kwargs)

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
        await close_services(self.services)


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve_app(app: Any, sock: socket.socket, *, log_level: str = "warning",
                    lifespan: str = "on", **config: Any) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve an ASGI app on the socket from a task on this loop; back once it accepts.
    `config`: more uvicorn settings (ssl_certfile and ssl_keyfile for an https server)."""
    # the app applies X-Forwarded-For itself (trusted_proxies, idp/app.py), as under `idp serve`
    # the HTTP protocol `idp serve` runs (idp/server/transport.py)
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, log_level=log_level,
                                           access_log=False, proxy_headers=False,
                                           http=IdpHttpProtocol, **config))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    for _ in range(250):
        if server.started:
            return server, task
        if task.done():
            task.result()  # raises the start-up error
        await asyncio.sleep(0.02)
    raise RuntimeError("the test server did not start within 5 s")


async def start_idp(*, issuer_scheme: str = "http", seed: bool = False,
                    log_level: str = "warning", **overrides: Any) -> LiveIdp:
    """Start a server. `overrides` are Settings fields (e.g. database_url=..., directory=...,
    or a whole section such as throttle=ThrottleSettings(...)). With issuer_scheme="https" the
    issuer says https (for cookie-flag tests) while the test still talks plain HTTP to the
    socket. `seed`: the local directory gets the demo people before the server starts."""
    sock = _listen()
    port = sock.getsockname()[1]
    overrides.setdefault("issuer", f"{issuer_scheme}://127.0.0.1:{port}")
    # the session's shared databases are purged by the tests that mean to, never at random
    overrides.setdefault("retention", {"background": False})
    settings = load_settings(**overrides)
    services = await open_services(settings)
    if seed:
        await seed_local(services.directory)  # type: ignore[arg-type]
    server, task = await serve_app(create_app(settings, services), sock, log_level=log_level)
    return LiveIdp(f"http://127.0.0.1:{port}", settings, services, server, task)
