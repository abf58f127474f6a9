"""A replica asked to stop leaves the load balancer's rotation first (idp/server/draining.py):
a real `idp serve`, SIGTERM, then /readyz answers 503 "draining" while every other request is
still served, and the process exits only once IDP_SHUTDOWN_DRAIN_SECONDS have passed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DRAIN = 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_drains_before_the_server_stops(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({"IDP_ISSUER": f"http://127.0.0.1:{port}",
                "IDP_DATABASE_URL": f"sqlite:///{tmp_path}/idp.db",
                "IDP_KEYS_DIR": str(tmp_path / "keys"),
                "IDP_SHUTDOWN_DRAIN_SECONDS": str(DRAIN)})
    # this tree's idp (cwd first on sys.path), whatever the virtualenv has installed
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", "from idp.cli.main import main; main()", "serve", "--port",
         str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "idp serve did not become ready"
                time.sleep(0.1)

            process.send_signal(signal.SIGTERM)
            asked = time.monotonic()
            time.sleep(0.3)
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "draining"
            # everything else is still answered, on new connections as on this one
            assert http.get("/.well-known/openid-configuration").status_code == 200
            with httpx.Client(base_url=base, timeout=5) as fresh:
                assert fresh.get("/jwks").status_code == 200
            assert process.poll() is None
        process.wait(timeout=DRAIN + 15)
        assert time.monotonic() - asked >= DRAIN - 0.1
        with httpx.Client(base_url=base, timeout=2) as http:
            try:
                http.get("/healthz")
                raise AssertionError("still answering after shutdown")
            except httpx.ConnectError:
                pass
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
