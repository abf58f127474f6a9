"""The processes under test: `idp serve` (campus-idp on slapd + Redis + PostgreSQL, exactly as
deployed) and the oidc-provider peer (node:cluster on Redis). Each is started with its own
environment, waited for, and stopped by its own pid."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from bench.slapd import BenchSlapd
from idp.monitoring.logs import server_log_config
from tests.support.slapd import SERVICE_DN, SERVICE_PASSWORD, SUFFIX

ROOT = Path(__file__).parents[1]
PEER_DIR = Path(__file__).parent / "peer"
IDP_BIN = Path(sys.executable).parent / "idp"
REDIS_URL = "redis://127.0.0.1:6379/0"
# how `idp` is run; use_idp_root() points it at another checkout (to measure a change)
IDP_COMMAND = [str(IDP_BIN)]
IDP_ROOT = ROOT


def use_idp_root(root: Path | None) -> None:
    """Run campus-idp from `root` (a copy of the checkout with a change) instead of this one;
    None: from this checkout again."""
    global IDP_ROOT
    if root is None:
        IDP_ROOT = ROOT
        IDP_COMMAND[:] = [str(IDP_BIN)]
        return
    IDP_ROOT = root.resolve()
    IDP_COMMAND[:] = [sys.executable, "-c", "import sys; from idp.cli import main; sys.exit(main())"]

# high enough never to refuse bench traffic, and the codes' pace; documented in bench/README.md
BENCH_LIMITS = {
    "IDP_THROTTLE_TOKEN_REQUESTS": "1000000000",
    "IDP_THROTTLE_INTROSPECT_REQUESTS": "1000000000",
    "IDP_THROTTLE_RATE_WINDOW": "60",
    "IDP_THROTTLE_PER_IP": "1000000",
    "IDP_THROTTLE_PER_ACCOUNT": "1000",
    "IDP_THROTTLE_FOLLOW_DIRECTORY": "false",
    # device codes polled every 2 s at most (bench/device.py), QR codes live 10 minutes
    # (bench/qr.py): fewer codes to make; neither changes what a poll or a wait costs
    "IDP_DEVICE_INTERVAL": "2",
    "IDP_QR_TTL": "600",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready within {seconds:.0f} s ({url})")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Backends:
    """What every campus-idp process of one run shares: the directory, PostgreSQL, Redis, keys."""

    slapd: BenchSlapd
    database_url: str
    keys_dir: Path
    redis_prefix: str = field(default_factory=lambda: f"bench-{uuid4().hex[:8]}:")

    def idp_env(self, port: int, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.update({
            "LDAPNOINIT": "1",
            "IDP_ISSUER": f"http://127.0.0.1:{port}",
            "IDP_DATABASE_URL": self.database_url,
            "IDP_REDIS_URL": REDIS_URL,
            "IDP_REDIS_PREFIX": self.redis_prefix,
            "IDP_DIRECTORY": "ldap",
            "IDP_LDAP_URL": self.slapd.ldap_uri.rstrip("/"),
            "IDP_LDAP_BIND_DN": SERVICE_DN,
            "IDP_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
            "IDP_LDAP_USER_BASE": f"ou=people,{SUFFIX}",
            "IDP_LDAP_GROUP_BASE": f"ou=groups,{SUFFIX}",
            "IDP_KEYS_DIR": str(self.keys_dir),
            **BENCH_LIMITS,
        })
        if IDP_ROOT != ROOT:
            env["PYTHONPATH"] = str(IDP_ROOT)
        env.update(extra)
        return env


@dataclass
class Server:
    """One server under test, reachable at base_url."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path

    def stop(self) -> None:
        stop(self.process)

    def idp(self, *args: str) -> Any:
        """Run the `idp` command with this server's settings (campus-idp only)."""
        done = subprocess.run([*IDP_COMMAND, *args], env=self.env,  # noqa: S603
                              capture_output=True, text=True, timeout=120, check=False,
                              cwd=IDP_ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"idp {' '.join(args)} failed: {done.stderr.strip()}")
        return json.loads(done.stdout) if "--json" in args else done.stdout


def serve_command(server: str, port: int, workers: int) -> list[str]:
    """`idp serve` (uvicorn with httptools and uvloop), or the same application under granian
    with the same workers and the same logging (JSON lines, idp/server/edge.py's access log), for the
    comparison that chose the server (bench/README.md)."""
    if server == "uvicorn":
        return [*IDP_COMMAND, "serve", "--port", str(port), "--workers", str(workers)]
    if server == "granian":
        config = Path(tempfile.gettempdir()) / "campus-idp-bench-logging.json"
        config.write_text(json.dumps(server_log_config("info")))
        return [sys.executable, "-m", "granian", "--interface", "asgi", "idp.asgi:app",
                "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
                "--http", "1", "--no-ws", "--log-config", str(config), "--log-level", "info"]
    raise ValueError(f"unknown server {server!r}")


def start_idp(backends: Backends, name: str, workers: int, log_dir: Path, *,
              server: str = "uvicorn", **extra: str) -> Server:
    port = free_port()
    env = backends.idp_env(port, **extra)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            serve_command(server, port, workers),
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=IDP_ROOT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url + "/readyz", process, f"idp serve ({name}, log {log_path})")
    except RuntimeError:
        stop(process)
        raise
    return Server(name, base_url, process, env, log_path)


def ensure_peer_installed() -> None:
    """npm ci from the lock file when node_modules is missing or older than the lock."""
    modules = PEER_DIR / "node_modules" / ".package-lock.json"
    lock = PEER_DIR / "package-lock.json"
    if modules.exists() and modules.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (Node.js 20+ with npm is needed for the peer)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"],  # noqa: S603
                   cwd=PEER_DIR, check=True, timeout=600)


def start_peer(workers: int, clients: list[dict[str, Any]], account: dict[str, Any],
               log_dir: Path) -> Server:
    ensure_peer_installed()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (Node.js 20+ is needed for the peer)")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NODE_ENV": "production",
        "PEER_PORT": str(port), "PEER_ISSUER": base_url, "PEER_WORKERS": str(workers),
        "PEER_REDIS_URL": REDIS_URL, "PEER_REDIS_PREFIX": f"bench-peer-{uuid4().hex[:8]}:",
        "PEER_CLIENTS": json.dumps(clients), "PEER_ACCOUNT": json.dumps(account),
        "PEER_COOKIE_KEY": uuid4().hex,
    }
    log_path = log_dir / "peer.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([node, str(PEER_DIR / "server.js")],  # noqa: S603
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PEER_DIR)
    try:
        wait_until_up(base_url + "/.well-known/openid-configuration", process,
                      f"the oidc-provider peer (log {log_path})")
    except RuntimeError:
        stop(process)
        raise
    return Server("peer", base_url, process, env, log_path)


def delete_redis_prefix(prefix: str) -> None:
    """Remove every key a run left under its prefix."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        batch = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(batch), 1000):
            client.delete(*batch[start:start + 1000])
    finally:
        client.close()
