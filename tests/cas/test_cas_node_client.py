"""A CAS client that is not Python: passport-cas (npm), run with Node, sends the browser to
campus-idp's CAS login and validates the ticket with CAS 3.0, reading the user and the released
attributes from the XML it gets back. Its packages come from tests/cas/node/package-lock.json
(`npm ci`, once per checkout)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import cas_login, ticket_of
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp

NODE_DIR = Path(__file__).with_name("node")


async def _run(*argv: str, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode or 0, output.decode()


@pytest.fixture(scope="session")
async def passport_cas() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed (scripts/bootstrap.sh test installs them)"
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (
            NODE_DIR / "package-lock.json").stat().st_mtime:
        code, output = await _run(npm, "ci", "--no-audit", "--no-fund", cwd=NODE_DIR)
        assert code == 0, output
    return NODE_DIR / "validate.js"


async def _strategy(script: Path, live: LiveIdp, service: str, ticket: str | None = None
                    ) -> dict[str, Any]:
    argv = ["node", str(script), f"{live.base_url}/cas", service, *([ticket] if ticket else [])]
    code, output = await _run(*argv, cwd=NODE_DIR)
    assert code == 0, output
    return json.loads(output.strip().splitlines()[-1])


async def test_passport_cas_signs_a_person_in(live: LiveIdp, browser: Browser,
                                              passport_cas: Path) -> None:
    service = service_url()
    await register_cas(live, service, attributes=["uid", "cn", "mail", "memberOf"])
    start = await _strategy(passport_cas, live, service)
    assert start["outcome"] == "redirect"
    login = urlsplit(start["url"])
    assert f"{login.scheme}://{login.netloc}{login.path}" == f"{live.base_url}/cas/login"
    assert parse_qs(login.query)["service"] == [service]
    ticket = ticket_of(await browser.visit(start["url"]), service)
    done = await _strategy(passport_cas, live, service, ticket)
    assert done["outcome"] == "success", done
    assert done["user"]["user"] == "student"
    attributes = done["user"]["attributes"]  # passport-cas lowercases the element names
    assert attributes["uid"] == "student"
    assert attributes["isfromnewlogin"] == "true"
    assert attributes["mail"].endswith("@example.edu")
    assert "telephonenumber" not in attributes  # not registered for this service


async def test_passport_cas_refuses_a_used_ticket(live: LiveIdp, browser: Browser,
                                                  passport_cas: Path) -> None:
    service = service_url()
    await register_cas(live, service)
    ticket = ticket_of(await cas_login(browser, service), service)
    assert (await _strategy(passport_cas, live, service, ticket))["outcome"] == "success"
    again = await _strategy(passport_cas, live, service, ticket)
    assert again["outcome"] == "error" and "INVALID_TICKET" in again["error"]
