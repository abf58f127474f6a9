"""A campus-idp for the fuzzers, served from a thread with an event loop of its own.

Hypothesis and schemathesis call it with blocking HTTP clients; the tests' own event loop is not
involved, so nothing stalls. The database is a SQLite file the fuzzers snapshot after every
request (clients, consents, refresh tokens); it holds two registered clients, a consent and a
refresh token (whose value the fuzzers never learn, so no request may legitimately change it).
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from idp.app import Services, close_services
from idp.db.activation import ActivationMarks
from idp.db.models import Consent, RefreshToken
from idp.protocols.oidc.clients import create_client
from idp.protocols.oidc.tokens import token_digest
from idp.settings import ActivationSettings
from tests.support.server import start_idp

T = TypeVar("T")
REDIRECT_URI = "https://fuzz.example.edu/cb"
SNAPSHOT_TABLES = {"clients": "client_id", "consents": "id", "refresh_tokens": "digest",
                   "activation_marks": "subject"}


@dataclass
class FuzzServer:
    root: Path
    base_url: str = ""
    client_id: str = ""
    secret: str = ""
    public_client_id: str = ""
    services: Services | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _failure: BaseException | None = None

    @property
    def db_path(self) -> Path:
        return self.root / "idp.db"

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> FuzzServer:
        self._thread = threading.Thread(target=self._run, name="fuzz-idp", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._failure is not None:
            raise RuntimeError(f"the fuzz server did not start: {self._failure!r}")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(20)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start() and the test
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        live = await start_idp(database_url=f"sqlite:///{self.db_path}", keys_dir=self.root / "keys",
                               directory="local", redis_url=None, seed=True, log_level="error",
                               activation=ActivationSettings(facts=["employeeNumber", "sn"]))
        self.services, self._server = live.services, live.server
        await self._seed(live.services)
        self.base_url = live.base_url
        self._ready.set()
        try:
            await live.task
        finally:
            await close_services(live.services)

    async def _seed(self, services: Services) -> None:
        confidential, secret = await create_client(
            services.db, name="Fuzz confidential", redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
            scopes=["openid", "profile", "email", "offline_access"],
            post_logout_redirect_uris=["https://fuzz.example.edu/bye"])
        public, _ = await create_client(services.db, name="Fuzz public", public=True,
                                        redirect_uris=[REDIRECT_URI], scopes=["openid"])
        self.client_id, self.secret, self.public_client_id = confidential.client_id, secret or "", \
            public.client_id
        student = await services.directory.find("student")
        assert student is not None
        # a newcomer to activate (/activate): employeeNumber 2026000001, sn 新
        newcomer = await services.directory.create_person(  # type: ignore[attr-defined]
            "fuzz-newcomer", name="新同学", family_name="新", number="2026000001")
        await ActivationMarks(services.db).mark(newcomer.subject, newcomer.username)
        async with services.db() as db, db.begin():
            db.add(Consent(subject=student.subject, client_id=confidential.client_id,
                           scopes=["openid", "profile"]))
            db.add(RefreshToken(
                digest=token_digest(secrets.token_urlsafe(32)), family_id="fuzz-family",
                client_id=confidential.client_id, subject=student.subject, scope="openid",
                expires_at=datetime.now(UTC) + timedelta(days=1)))

    # --- what the fuzzers use ------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (where its Store and database live)."""
        assert self._loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(30)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the durable tables a rejected request must never change."""
        with sqlite3.connect(self.db_path) as conn:
            return {table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()  # noqa: S608
                    for table, key in SNAPSHOT_TABLES.items()}
