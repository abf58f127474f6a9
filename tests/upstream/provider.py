"""A real OpenID provider for the upstream tests: panva's oidc-provider (Node), from the
packages `make bench` installs (bench/peer, its lock file), run by tests/upstream/oidc_provider.mjs."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
PEER_DIR = HERE.parent.parent / "bench" / "peer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ensure_installed() -> None:
    """`npm ci` in bench/peer once per checkout, as bench/deps.sh does."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed (scripts/bootstrap.sh test installs them)"
    installed = PEER_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= (
            PEER_DIR / "package-lock.json").stat().st_mtime:
        return
    process = await asyncio.create_subprocess_exec(
        npm, "ci", "--no-audit", "--no-fund", cwd=PEER_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, output.decode()


@dataclass
class OpenIdProvider:
    issuer: str
    process: asyncio.subprocess.Process

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def start_provider(port: int, clients: list[dict[str, Any]]) -> OpenIdProvider:
    await ensure_installed()
    issuer = f"http://127.0.0.1:{port}"
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "OP_PORT": str(port), "OP_ISSUER": issuer,
           "OP_CLIENTS": json.dumps(clients), "NODE_ENV": "production"}
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(HERE / "oidc_provider.mjs"), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    provider = OpenIdProvider(issuer, process)
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(150):
            if process.returncode is not None:
                raise RuntimeError(f"oidc-provider exited with {process.returncode}")
            try:
                found = await http.get(f"{issuer}/.well-known/openid-configuration")
                if found.status_code == 200:
                    return provider
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    await provider.stop()
    raise RuntimeError("oidc-provider did not start within 15 s")
