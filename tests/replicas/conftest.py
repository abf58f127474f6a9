"""Two (or more) `idp serve` processes sharing one slapd, one Redis (a key prefix of this run's
own) and one fresh PostgreSQL database, and one keys directory: the docker-compose topology
without Docker. Each replica is a real subprocess on its own port; the tests play the load
balancer by choosing which replica a request goes to. Cookies are per host, not per port, so
one httpx cookie jar behaves like a browser behind a load balancer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import free_port_run
from tests.support.databases import postgres_database_sync
from tests.support.redis import REDIS_URL, unique_prefix
from tests.support.slapd import Campus, ldap_settings

IDP = str(Path(sys.executable).parent / "idp")
REDIRECT_URI = "https://rp.example.edu/cb"


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    env: dict[str, str]
    root: Path
    issuer: str
    client_id: str
    client_secret: str
    replicas: list[Replica]

    def start_replica(self, name: str) -> Replica:
        port = free_port_run(1)
        log = self.root / f"{name}.log"
        process = subprocess.Popen(  # noqa: S603
            [IDP, "serve", "--host", "127.0.0.1", "--port", str(port)], env=self.env,
            cwd=self.root, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        replica = Replica(name, f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 45
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"replica {name} exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                replica.stop()
                raise RuntimeError(f"replica {name} not ready:\n{log.read_text()}")
            time.sleep(0.2)
        self.replicas.append(replica)
        return replica

    def idp(self, *args: str) -> str:
        """The `idp` command against the shared backends (as an operator runs it on any node)."""
        result = subprocess.run([IDP, *args], env=self.env, cwd=self.root, capture_output=True,  # noqa: S603
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="session")
def cluster(campus_slapd: Campus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    ldap = ldap_settings(campus_slapd.server)
    prefix = unique_prefix()
    with postgres_database_sync() as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.update({
            # the load balancer's address: what every replica puts in `iss`
            "IDP_ISSUER": f"http://127.0.0.1:{free_port_run(1)}",
            "IDP_DATABASE_URL": database_url, "IDP_REDIS_URL": REDIS_URL,
            "IDP_REDIS_PREFIX": prefix, "IDP_KEYS_DIR": str(root / "keys"),
            "IDP_DIRECTORY": "ldap", "IDP_LDAP_URL": ldap.url, "IDP_LDAP_BIND_DN": ldap.bind_dn,
            "IDP_LDAP_BIND_PASSWORD": ldap.bind_password.get_secret_value(),
            "IDP_LDAP_USER_BASE": ldap.user_base, "IDP_LDAP_GROUP_BASE": ldap.group_base,
            "IDP_LDAP_TIMEOUT": "3", "IDP_LDAP_NETWORK_TIMEOUT": "1", "LDAPNOINIT": "1",
            # an operator's `idp users disable | reset-password` on any node writes people
            "IDP_LDAP_ADMIN_BIND_DN": campus_slapd.server.root_dn,
            "IDP_LDAP_ADMIN_BIND_PASSWORD": campus_slapd.server.root_pw,
        })
        cluster = Cluster(env, root, env["IDP_ISSUER"], "", "", [])
        cluster.start_replica("a")  # the first one migrates the database and makes the keys
        cluster.start_replica("b")
        client = json.loads(cluster.idp(
            "clients", "add", "--name", "Replicated RP", "--redirect-uri", REDIRECT_URI,
            "--skip-consent", "--json"))
        cluster.client_id, cluster.client_secret = client["client_id"], client["client_secret"]
        try:
            yield cluster
        finally:
            for replica in cluster.replicas:
                replica.stop()
            _drop_redis_keys(prefix)


def _drop_redis_keys(prefix: str) -> None:
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(connection.scan_iter(match=f"{prefix}*"))
        if keys:
            connection.delete(*keys)
    finally:
        connection.close()
