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

from idp.app import Services, close_services, create_app, open_services
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


async def start_idp(*, issuer_scheme: str = "http", **overrides: Any) -> LiveIdp:
    """Start a server. `overrides` are Settings fields (e.g. database_url=..., directory=...).
    With issuer_scheme="https" the issuer says https (for cookie-flag tests) while the test still
    talks plain HTTP to the socket."""
    sock = _listen()
    port = sock.getsockname()[1]
    overrides.setdefault("issuer", f"{issuer_scheme}://127.0.0.1:{port}")
    settings = load_settings(**overrides)
    services = await open_services(settings)
    app = create_app(settings, services)
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()  # raises the start-up error
        await asyncio.sleep(0.02)
    else:
        raise RuntimeError("campus-idp test server did not start within 4 s")
    return LiveIdp(f"http://127.0.0.1:{port}", settings, services, server, task)
