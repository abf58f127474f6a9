"""A real Redis Sentinel topology for tests: a primary, a replica and three sentinels, each a
`redis-server` process (`redis-server FILE --sentinel` for the sentinels, which is all Debian's
redis-sentinel is) on a loopback port of its own, in a temporary directory of its own.

Both kinds of password are set, as a campus would deploy it: the data nodes' (`requirepass`, and
`masterauth` so the replica can follow; the sentinels know it as `auth-pass`) and the sentinels'
own (`requirepass` in sentinel mode, and `sentinel sentinel-pass` so they can talk to each
other). `url` is the IDP_REDIS_URL that reaches it.

The sentinels mark a silent primary down after DOWN_AFTER_MS (production: a few seconds; the
default 30 s would make every failover a long outage) and a second election may start only
after twice FAILOVER_TIMEOUT_MS, so one failover takes DOWN_AFTER_MS plus an election of about a
second, and a split vote adds at most 2 x FAILOVER_TIMEOUT_MS.

    with SentinelTopology() as topology:
        topology.url                  # redis+sentinel://:…@127.0.0.1:p1,…/campus/0?sentinel_password=…
        killed = topology.kill_primary()   # SIGKILL: no goodbye to anyone
        topology.wait_for_new_primary(killed)
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis

from tests.e2e.stack import free_port_run

SERVICE = "campus"
DATA_PASSWORD = "data-pw/with+odd@chars"  # percent-encoded in the URL: proves the decoding
SENTINEL_PASSWORD = "sentinel-pw"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
HOST = "127.0.0.1"
START_TIMEOUT = 20.0


@dataclass
class Node:
    name: str
    port: int
    config: Path
    sentinel: bool
    process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class _PortTaken(RuntimeError):
    """A node could not bind its port: someone took it after it was chosen."""


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("the Sentinel tests need Debian's redis-server (scripts/bootstrap.sh "
                           "installs it with `make test`)")
    return found


class SentinelTopology:
    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="idp-sentinel-"))
        self.nodes = [
            Node("redis-a", 0, self._root / "redis-a.conf", sentinel=False),
            Node("redis-b", 0, self._root / "redis-b.conf", sentinel=False),
            *(Node(f"sentinel-{n}", 0, self._root / f"sentinel-{n}.conf", sentinel=True)
              for n in range(3)),
        ]
        self._binary = _redis_server()

    # --- what tests use -----------------------------------------------------------------------

    @property
    def data_nodes(self) -> list[Node]:
        return [node for node in self.nodes if not node.sentinel]

    @property
    def sentinels(self) -> list[Node]:
        return [node for node in self.nodes if node.sentinel]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{node.port}" for node in self.sentinels)
        return (f"redis+sentinel://:{quote(DATA_PASSWORD, safe='')}@{hosts}/{SERVICE}/0"
                f"?sentinel_password={quote(SENTINEL_PASSWORD, safe='')}")

    def primary_port(self) -> int:
        """Where the sentinels say the primary is (the first sentinel that answers)."""
        for node in self.sentinels:
            if not node.running:
                continue
            try:
                with self._client(node) as client:
                    _, port = client.sentinel_get_master_addr_by_name(SERVICE)
                return int(port)
            except redis.RedisError:
                continue
        raise RuntimeError("no sentinel answers")

    def node_on(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def data_client(self, port: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=port, password=DATA_PASSWORD, socket_timeout=5,
                           decode_responses=True)

    def replicated(self, timeout: float = 5.0) -> int:
        """Write a marker on the primary and wait until the replica has it, and with it every
        write the primary took before: the number of replicas that acknowledged (WAIT)."""
        with self.data_client(self.primary_port()) as primary:
            primary.set("sentinel-topology:marker", str(time.time()))
            return int(primary.execute_command("WAIT", 1, int(timeout * 1000)))

    def kill_primary(self) -> int:
        """SIGKILL the primary (no shutdown, no last words to anyone); its port."""
        port = self.primary_port()
        node = self.node_on(port)
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)
        return port

    def wait_for_new_primary(self, old: int, timeout: float = 30.0) -> int:
        """Until every running sentinel names a primary other than `old`, and it takes writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ports = set()
            for node in self.sentinels:
                try:
                    with self._client(node) as client:
                        ports.add(int(client.sentinel_get_master_addr_by_name(SERVICE)[1]))
                except redis.RedisError:
                    ports.add(old)
            if len(ports) == 1 and old not in ports:
                port = ports.pop()
                if self._info(port, "replication").get("role") == "master":
                    return port
            time.sleep(0.1)
        raise AssertionError(f"no failover away from port {old} within {timeout:.0f}s")

    def restart(self, port: int) -> None:
        """Start a killed node again, on its port with its (sentinel-rewritten) config."""
        self._start(self.node_on(port))
        self._wait_ping(self.node_on(port))

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> SentinelTopology:
        # the ports were free when chosen; another process may take one before redis-server
        # binds it: then the whole topology moves to other ports
        for attempt in range(3):
            base = free_port_run(len(self.nodes))
            for offset, node in enumerate(self.nodes):
                node.port = base + offset
            self._write_configs()
            for node in self.nodes:
                (self._root / f"{node.name}.log").unlink(missing_ok=True)
            try:
                # the sentinels last: a sentinel reads the primary's replicas from INFO when it
                # connects and then only every 10 s, so the replica must be in sync before
                for node in self.data_nodes:
                    self._start(node)
                for node in self.data_nodes:
                    self._wait_ping(node)
                self._wait_in_sync()
                for node in self.sentinels:
                    self._start(node)
                for node in self.sentinels:
                    self._wait_ping(node)
                self._wait_settled(self.data_nodes[0].port)
                return self
            except _PortTaken:
                self._stop_processes()
                if attempt == 2:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _write_configs(self) -> None:
        primary, replica = self.data_nodes
        for node in self.data_nodes:
            lines = [f"port {node.port}", f"bind {HOST}", 'save ""', "appendonly no",
                     f"dir {self._root}", f"dbfilename {node.name}.rdb", "protected-mode no",
                     f'requirepass "{DATA_PASSWORD}"', f'masterauth "{DATA_PASSWORD}"',
                     # the replica's first full sync at once, not after Redis's default 5 s
                     "repl-diskless-sync-delay 0"]
            if node is replica:
                lines.append(f"replicaof {HOST} {primary.port}")
            node.config.write_text("\n".join(lines) + "\n")
        for node in self.sentinels:
            node.config.write_text("\n".join([
                f"port {node.port}", f"bind {HOST}", f"dir {self._root}", "protected-mode no",
                f'requirepass "{SENTINEL_PASSWORD}"',
                f'sentinel sentinel-pass "{SENTINEL_PASSWORD}"',
                f"sentinel monitor {SERVICE} {HOST} {primary.port} 2",
                f'sentinel auth-pass {SERVICE} "{DATA_PASSWORD}"',
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {SERVICE} 1",
            ]) + "\n")

    def stop(self) -> None:
        self._stop_processes()
        shutil.rmtree(self._root, ignore_errors=True)

    def _stop_processes(self) -> None:
        for node in self.nodes:
            if node.running:
                assert node.process is not None
                node.process.terminate()
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    def __enter__(self) -> SentinelTopology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- inside ---------------------------------------------------------------------------------

    def _start(self, node: Node) -> None:
        args = [self._binary, str(node.config)] + (["--sentinel"] if node.sentinel else [])
        log = open(self._root / f"{node.name}.log", "ab")  # noqa: SIM115 - the process keeps it
        node.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        log.close()

    def _client(self, node: Node) -> redis.Redis:
        password = SENTINEL_PASSWORD if node.sentinel else DATA_PASSWORD
        return redis.Redis(host=HOST, port=node.port, password=password, socket_timeout=2,
                           socket_connect_timeout=2, decode_responses=True)

    def _info(self, port: int, section: str) -> dict[str, object]:
        try:
            with self.data_client(port) as client:
                return dict(client.info(section))
        except redis.RedisError:
            return {}

    def _wait_ping(self, node: Node) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if node.process is not None and node.process.poll() is not None:
                log = self.log_of(node)
                if "Address already in use" in log:
                    raise _PortTaken(f"{node.name}: port {node.port} taken")
                raise RuntimeError(f"{node.name} exited: {log[-2000:]}")
            try:
                with self._client(node) as client:
                    if client.ping():
                        return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} did not answer within {START_TIMEOUT:.0f}s")
            time.sleep(0.05)

    def _wait_in_sync(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while self._info(self.data_nodes[1].port, "replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync: " + self.log_of(self.data_nodes[1]))
            time.sleep(0.05)

    def _wait_settled(self, primary: int) -> None:
        """Until every sentinel knows the other two and the replica (before that, a failover
        could find no one to promote, or no quorum)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if all(self._sees_everyone(node, primary) for node in self.sentinels):
                return
            time.sleep(0.1)
        raise RuntimeError("the Sentinel topology did not settle: "
                           + " | ".join(self.log_of(n)[-400:] for n in self.nodes))

    def _sees_everyone(self, node: Node, primary: int) -> bool:
        try:
            with self._client(node) as client:
                master = client.sentinel_master(SERVICE)
        except redis.RedisError:
            return False
        return (int(master["port"]) == primary and int(master["num-other-sentinels"]) == 2
                and int(master["num-slaves"]) == 1)

    def log_of(self, node: Node) -> str:
        path = self._root / f"{node.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
