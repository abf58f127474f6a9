"""`idp serve` with linked identities (IDP_IDENTITIES_LINK_ATTRIBUTE=seeAlso) for the browser
tests: a database prepared first (the demo people, a postgraduate who is also a teaching
assistant as two linked entries, one app), then the server as a real subprocess.

`python -m tests.e2e.identity_stack` prepares the database named by IDP_DATABASE_URL and prints
the app's client_id; the tests run it in a subprocess of its own, so no event loop of theirs is
involved (the browser tests use Playwright's sync API)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.stack import IDP, REPO, free_port_run

RP = "https://grad.example.edu"
STUDENT = ("humin", "Humin-student-1", "胡敏（研究生）", "student", "2024310101", "计算机学院")
TA = ("humin-ta", "Humin-assistant-1", "胡敏（助教）", "staff", "T2024101", "计算机学院教学办")


@dataclass
class IdentityStack:
    process: subprocess.Popen[str]
    issuer: str
    client_id: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_identity_stack(root: Path) -> IdentityStack:
    port = free_port_run(1)
    issuer = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({"IDP_ISSUER": issuer, "IDP_DATABASE_URL": f"sqlite:///{root}/idp.db",
                "IDP_KEYS_DIR": str(root / "keys"), "LDAPNOINIT": "1",
                "IDP_IDENTITIES_LINK_ATTRIBUTE": "seeAlso", "IDP_LOG_FORMAT": "text"})
    prepared = subprocess.run([sys.executable, "-m", "tests.e2e.identity_stack"], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=120, check=True)
    client_id = prepared.stdout.strip().splitlines()[-1]
    log = open(root / "idp.log", "w")  # noqa: SIM115 - kept open for the process's life
    process = subprocess.Popen([IDP, "serve", "--port", str(port)], cwd=root, env=env,
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{issuer}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("idp serve did not come up:\n" + (root / "idp.log").read_text())
        time.sleep(0.2)
    return IdentityStack(process, issuer, client_id)


async def _prepare() -> str:
    from directory.demo_people import seed_local
    from directory.local import LocalDirectory
    from idp.db.engine import close_engine, open_engine, sessionmaker
    from idp.db.migrate import upgrade
    from idp.protocols.oidc.clients import create_client
    from idp.settings import load_settings

    settings = load_settings()
    await upgrade(settings.database_url)
    engine = open_engine(settings.database_url)
    directory = LocalDirectory(engine, links=settings.identities)
    try:
        await seed_local(directory)
        for (username, password, name, affiliation, number, department), links in (
                (STUDENT, {}), (TA, {"seeAlso": [STUDENT[0]]})):
            await directory.create_person(username, password, name=name, number=number,
                                          affiliations=[affiliation], department=department,
                                          attributes=links)
        client, _secret = await create_client(sessionmaker(engine), name="研究生系统 Graduate school",
                                              redirect_uris=[f"{RP}/callback"], skip_consent=True)
        return client.client_id
    finally:
        await directory.close()
        await close_engine(engine)


if __name__ == "__main__":
    print(asyncio.run(_prepare()))
