"""X-Forwarded-For / X-Forwarded-Proto are believed only from `trusted_proxies`, by the app itself
(idp/app.py), so every server runs the same rule: the test server's own proxy-header handling is
off. What the app took as the client address is read back from the audit log."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from idp.db.models import AuditEvent
from tests.support.server import LiveIdp, start_idp


async def _recorded_ip(live: LiveIdp, forwarded_for: str) -> str | None:
    client_id = "proxy-" + secrets.token_hex(6)  # unknown: an audited invalid_client
    async with live.client(headers={"x-forwarded-for": forwarded_for}) as http:
        response = await http.post("/token", data={"grant_type": "client_credentials",
                                                   "client_id": client_id, "client_secret": "x"})
    assert response.json()["error"] == "invalid_client", response.text
    async with live.services.db() as db:
        rows = list(await db.scalars(select(AuditEvent).where(AuditEvent.client_id == client_id)))
    assert len(rows) == 1
    return rows[0].ip


@pytest.fixture
async def untrusting(tmp_path) -> AsyncIterator[LiveIdp]:  # type: ignore[no-untyped-def]
    live = await start_idp(trusted_proxies="10.9.9.9", database_url=f"sqlite:///{tmp_path}/i.db",
                           keys_dir=tmp_path / "keys")
    yield live
    await live.stop()


async def test_a_trusted_proxy_names_the_client(live_idp: LiveIdp) -> None:
    # the default trusts the loopback proxy: the right-most untrusted address is the client
    assert await _recorded_ip(live_idp, "203.0.113.7") == "203.0.113.7"
    assert await _recorded_ip(live_idp, "198.51.100.1, 203.0.113.8") == "203.0.113.8"


async def test_anyone_else_cannot_choose_their_address(untrusting: LiveIdp) -> None:
    assert await _recorded_ip(untrusting, "203.0.113.9") == "127.0.0.1"
