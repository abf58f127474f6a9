"""A tiny relying party back-channel endpoint over real HTTP (uvicorn on a free port, served on
the tests' own event loop like the IdP): /ok answers 200, /fail answers 500; both record what
they were sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.server import _listen, serve_app


@dataclass
class Received:
    path: str
    content_type: str
    form: dict[str, str]


@dataclass
class Receiver:
    base_url: str
    received: list[Received] = field(default_factory=list)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def stop(self) -> None:
        assert self.server is not None and self.task is not None
        self.server.should_exit = True
        await self.task


async def start_receiver() -> Receiver:
    sock = _listen()
    receiver = Receiver(f"http://127.0.0.1:{sock.getsockname()[1]}")

    async def record(request: Request) -> Response:
        form = await request.form()
        receiver.received.append(Received(
            request.url.path, request.headers.get("content-type", ""),
            {k: v for k, v in form.items() if isinstance(v, str)}))
        return Response(status_code=500 if request.url.path == "/fail" else 200)

    app = Starlette(routes=[Route("/ok", record, methods=["POST"]),
                            Route("/fail", record, methods=["POST"])])
    receiver.server, receiver.task = await serve_app(app, sock, lifespan="off")
    return receiver
