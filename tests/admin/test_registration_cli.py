"""`idp clients token` as a real subprocess: the token it prints registers a client at the
running server (both use the same database)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.admin.conftest_registration import (  # noqa: F401 - fixtures
    app_metadata,
    http_fixture,
    live_fixture,
    register,
)
from tests.support.server import LiveIdp

IDP = str(Path(sys.executable).parent / "idp")


async def run_idp(live: LiveIdp, *args: str) -> tuple[int, str, str]:
    """The `idp` command on the live server's database (async: the server shares this loop)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({"IDP_DATABASE_URL": live.settings.database_url,
                "IDP_ISSUER": live.settings.issuer, "LDAPNOINIT": "1"})
    process = await asyncio.create_subprocess_exec(
        IDP, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_token_json_registers_a_client(live: LiveIdp, http: httpx.AsyncClient) -> None:
    code, out, err = await run_idp(live, "clients", "token", "--expires", "2h", "--json")
    assert code == 0, err
    printed = json.loads(out)
    assert set(printed) >= {"initial_access_token", "expires_at"}
    expires = datetime.fromisoformat(printed["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=2)
    assert printed["registration_endpoint"] == f"{live.settings.issuer}/register"

    response = await register(http, printed["initial_access_token"], app_metadata())
    assert response.status_code == 201, response.text


async def test_token_default_expiry_is_seven_days(live: LiveIdp) -> None:
    code, out, err = await run_idp(live, "clients", "token", "--json")
    assert code == 0, err
    expires = datetime.fromisoformat(json.loads(out)["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=2)


async def test_token_human_output_shows_it_once(live: LiveIdp) -> None:
    code, out, err = await run_idp(live, "clients", "token")
    assert code == 0, err
    assert "initial access token:" in out and "shown once" in out


async def test_bad_expiry_is_a_clear_error(live: LiveIdp) -> None:
    for value in ("soon", "0", "400d"):
        code, out, err = await run_idp(live, "clients", "token", "--expires", value)
        assert code == 2, (value, out, err)
        assert "Traceback" not in err and err.strip()
