"""docker-compose.sentinel.yml, the Sentinel option of the compose stack, without a Docker
engine: valid against the Compose schema on its own and merged over docker-compose.yml (after
compose's interpolation with deploy/idp.env.example); the replicas' IDP_REDIS_URL is a Sentinel
URL that campus-idp accepts and that names what the sentinels monitor; and the configuration the
containers run is run here too, by Debian's redis-server, so a directive it does not know fails
this test rather than a deployment."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from idp.settings import load_settings, parse_sentinel_url
from tests.e2e.stack import REPO, free_port_run
from tests.replicas.test_compose_file import (
    COMPOSE,
    ENV_EXAMPLE,
    interpolate,
    read_env_file,
    schema_validator,
)

SENTINEL = REPO / "docker-compose.sentinel.yml"
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


def _merge(base: Any, over: Any) -> Any:
    """Compose's merge, as far as this file needs it: mappings key by key, the rest replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(over)


def merged_stack(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """docker-compose.yml with the override on top, `extends` resolved."""
    stack = _merge(base, override)
    for name, service in stack["services"].items():
        extends = service.pop("extends", None)
        if extends is not None:
            assert extends["file"] == COMPOSE.name, f"{name} extends another file"
            stack["services"][name] = _merge(base["services"][extends["service"]], service)
    return stack


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def override(env: dict[str, str]) -> dict[str, Any]:
    return interpolate(yaml.safe_load(SENTINEL.read_text()), env)


@pytest.fixture(scope="module")
def stack(override: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return merged_stack(interpolate(yaml.safe_load(COMPOSE.read_text()), env), override)


def test_valid_against_the_compose_schema_alone_and_merged(
        override: dict[str, Any], stack: dict[str, Any]) -> None:
    validator = schema_validator()
    for document in (yaml.safe_load(SENTINEL.read_text()), override, stack):
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
                  for e in validator.iter_errors(document)]
        assert not errors, errors


def test_the_replicas_reach_redis_through_the_three_sentinels(
        stack: dict[str, Any], env: dict[str, str]) -> None:
    services = stack["services"]
    a, b = services["idp-a"], services["idp-b"]
    assert a["environment"] == b["environment"]
    url = a["environment"]["IDP_REDIS_URL"]
    assert load_settings(redis_url=url).redis_sentinel is not None  # accepted as configured
    target = parse_sentinel_url(url)
    assert target.sentinels == tuple((name, 26379) for name in SENTINELS)
    assert (target.password, target.sentinel_password) == (
        env["REDIS_PASSWORD"], env["REDIS_SENTINEL_PASSWORD"])
    for name in SENTINELS:
        assert a["depends_on"][name] == {"condition": "service_healthy"}
        script = services[name]["command"][-1]
        # what the sentinels monitor is what the URL names, with a majority of the three
        assert f"sentinel monitor {target.service} redis 6379 2" in script
    # the rest of the replicas' settings are docker-compose.yml's
    assert a["environment"]["IDP_DIRECTORY"] == "ldap" and a["command"][:2] == ["idp", "serve"]
    assert services["idp-migrate"]["environment"]["IDP_REDIS_URL"].startswith("redis://")


def test_every_node_is_health_checked_and_the_data_nodes_persist(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name in ("redis", "redis-replica", *SENTINELS):
        assert "test" in services[name]["healthcheck"], name
    for name, volume in (("redis", "redis-data"), ("redis-replica", "redis-replica-data")):
        command = services[name]["command"]
        # restarted empty while still the primary, a node would wipe its replica: it reloads
        assert command[command.index("--appendonly") + 1] == "yes", name
        assert f"{volume}:/data" in services[name]["volumes"] and volume in stack["volumes"]
    assert services["redis-replica"]["command"][-3:] == ["--replicaof", "redis", "6379"]


def test_secrets_come_from_the_env_file() -> None:
    raw = yaml.safe_load(SENTINEL.read_text())
    with pytest.raises(ValueError, match="REDIS_SENTINEL_PASSWORD"):
        interpolate(raw, {k: v for k, v in read_env_file(ENV_EXAMPLE).items()
                          if k != "REDIS_SENTINEL_PASSWORD"})
    text = SENTINEL.read_text()
    for secret in read_env_file(ENV_EXAMPLE).values():
        if "change-me" in secret:
            assert secret not in text


# --- the configuration the containers run, run by redis-server ------------------------------


def _sentinel_conf(service: dict[str, Any], port: int, primary_port: int) -> str:
    """The file the sentinel's start script writes, with the shell's ${VAR}s filled in from
    the container's environment, on loopback ports of the test's own."""
    script = service["command"][-1]
    body = script.split("<<EOF\n", 1)[1].split("\nEOF", 1)[0]
    body = re.sub(r"\$\{(\w+)\}", lambda m: service["environment"][m.group(1)], body)
    body = body.replace("port 26379", f"port {port}\nbind 127.0.0.1")
    return body.replace("campus redis 6379", f"campus 127.0.0.1 {primary_port}")


def _answers(port: int, password: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with redis.Redis(port=port, password=password, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            time.sleep(0.05)
    return False


def test_redis_server_runs_the_nodes_and_a_sentinel_as_configured(
        stack: dict[str, Any], env: dict[str, str], tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary, "Debian's redis-server is needed (scripts/bootstrap.sh installs it)"
    services = stack["services"]
    base = free_port_run(3)
    # the primary as configured, on a loopback port; and no 5 s wait before the first full sync
    # of the replica (Redis's default, which only makes a test slower)
    primary = [*services["redis"]["command"][1:], "--port", str(base), "--bind", "127.0.0.1",
               "--dir", str(tmp_path), "--repl-diskless-sync-delay", "0"]
    replica = [*services["redis-replica"]["command"][1:-3], "--replicaof", "127.0.0.1",
               str(base), "--port", str(base + 1), "--bind", "127.0.0.1",
               "--dir", str(tmp_path / "replica")]
    (tmp_path / "replica").mkdir()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(_sentinel_conf(services["sentinel-1"], base + 2, base))
    log = (tmp_path / "log").open("wb")

    def run(args: list[str]) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen([binary, *args], stdout=log, stderr=subprocess.STDOUT))  # noqa: S603
        return started[-1]

    started: list[subprocess.Popen[bytes]] = []
    try:
        assert _answers(base, env["REDIS_PASSWORD"], run(primary))
        assert _answers(base + 1, env["REDIS_PASSWORD"], run(replica))
        with redis.Redis(port=base + 1, password=env["REDIS_PASSWORD"]) as node:
            deadline = time.monotonic() + 20
            while node.info("replication")["master_link_status"] != "up":
                assert time.monotonic() < deadline, "the replica never followed the primary"
                time.sleep(0.05)
        # a sentinel reads the replicas from the primary's INFO as it connects (then every
        # 10 s): started once the replica follows, it knows it from its first look
        assert _answers(base + 2, env["REDIS_SENTINEL_PASSWORD"],
                        run([str(conf), "--sentinel"]))
        with redis.Redis(port=base + 2, password=env["REDIS_SENTINEL_PASSWORD"]) as sentinel:
            deadline = time.monotonic() + 20
            while (slaves := int(sentinel.sentinel_master("campus")["num-slaves"])) < 1:
                assert time.monotonic() < deadline, "the sentinel never saw the replica"
                time.sleep(0.1)
            assert slaves == 1
    finally:
        # killed, not stopped: how the nodes start and connect is under test, how they stop is
        # not, and a graceful stop waits on things a throwaway directory does not need (a primary
        # for its replica to catch up, shutdown-timeout; a replica for its AOF rewrite child)
        for process in started:
            process.kill()
        for process in started:
            process.wait()
        log.close()
    assert "Bad directive" not in (tmp_path / "log").read_text(errors="replace")
