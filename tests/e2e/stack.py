"""The demo as the tests run it: `idp demo` in a real subprocess (which runs `idp serve` and one
uvicorn per example app as its own children) on free ports, in a temporary directory.

This is exactly what `make demo` starts, so the browser tests prove the newcomer's path."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
IDP = str(Path(sys.executable).parent / "idp")
ARTIFACTS = REPO / "test-artifacts"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# below the kernel's ephemeral range (ip_local_port_range starts at 32768): a port chosen
# here cannot be taken meanwhile by an outgoing connection or a server bound to port 0
LOWEST, EPHEMERAL = 20000, 32768


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports (the demo's apps take consecutive ports)."""
    for _ in range(200):
        base = random.randrange(LOWEST, EPHEMERAL - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no run of free ports found")


@dataclass
class DemoStack:
    process: subprocess.Popen[str]
    issuer: str
    hall: str
    oa: str
    data: str
    api: str
    academic: str
    clients: dict[str, dict[str, str | None]]
    root: Path
    env: dict[str, str]  # the demo's environment, for `idp` commands run beside it

    def idp(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run an `idp` command on the demo's database (as an admin at the server would)."""
        return subprocess.run([IDP, *args], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)

    @property
    def ports(self) -> list[int]:
        return [int(url.rsplit(":", 1)[1]) for url in (self.issuer, self.hall, self.oa, self.data,
                                                       self.api, self.academic)]

    def stop(self) -> int:
        """Ctrl-C, as a person stops `make demo`; returns the exit status."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_demo(root: Path) -> DemoStack:
    port = free_port_run(1)
    app_port = free_port_run(5)
    issuer = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({"IDP_ISSUER": issuer, "IDP_DATABASE_URL": f"sqlite:///{root}/idp.db",
                "IDP_KEYS_DIR": str(root / "keys"), "LDAPNOINIT": "1",
                # self-service activation on, as a campus with a September intake runs it
                "IDP_ACTIVATION_FACTS": "employeeNumber,sn,givenName"})
    log = open(root / "demo.log", "w")  # noqa: SIM115 - kept open for the process's life
    process = subprocess.Popen(
        [IDP, "demo", "--port", str(port), "--app-port", str(app_port)], cwd=root, env=env,
        stdout=log, stderr=subprocess.STDOUT, text=True)
    apps = [f"http://127.0.0.1:{app_port + i}" for i in range(5)]
    deadline = time.monotonic() + 60
    while "everything is up" not in (root / "demo.log").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("idp demo did not come up:\n" + (root / "demo.log").read_text())
        time.sleep(0.2)
    clients = json.loads((root / "demo-clients.json").read_text())
    return DemoStack(process, issuer, *apps, clients=clients, root=root, env=env)


def listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return True
