"""docker-compose.yml without a Docker engine: valid against the Compose Specification's JSON
schema (the copy vendored by check-jsonschema), after compose's own variable interpolation with
deploy/idp.env.example; and saying what the replica tests run. The OpenLDAP image's seeding
script is run here against Debian's slapd, as the image build runs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import ldap
import pytest
import yaml

from tests.e2e.stack import REPO, free_port_run

COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "deploy" / "idp.env.example"
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_]\w*)")


def compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text(encoding="utf-8"))


def schema_validator() -> jsonschema.protocols.Validator:
    schema = compose_schema()
    return jsonschema.validators.validator_for(schema)(schema)  # the draft the schema names


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}, ${VAR:+other}, $VAR."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        current = env.get(name)
        unset_or_empty = not current
        if operator in (":?", "?") and (current is None or (operator == ":?" and unset_or_empty)):
            raise ValueError(f"{name}: {argument}")
        if operator in (":-", "-") and (current is None or (operator == ":-" and unset_or_empty)):
            return argument
        if operator in (":+", "+"):
            return argument if (current if operator == ":+" else current is not None) else ""
        return current or ""

    return _VARIABLE.sub(replace, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, read_env_file(ENV_EXAMPLE))


def test_valid_against_the_compose_schema(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    validator = schema_validator()
    for document in (raw, compose):
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, errors


def test_the_schema_check_is_not_a_rubber_stamp(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["idp-a"]["healthcheck"]["interval"] = {"seconds": 10}
    broken["services"]["redis"]["restart_policy"] = "always"  # not a compose key
    assert len(list(schema_validator().iter_errors(broken))) >= 2


def test_required_secrets_come_from_the_env_file(raw: dict[str, Any]) -> None:
    example = read_env_file(ENV_EXAMPLE)
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolate(raw, {k: v for k, v in example.items() if k != "POSTGRES_PASSWORD"})
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET", key) or "@" in str(value):
                assert "${" in str(value), f"{name}.{key} holds a literal secret"


def test_every_service_is_health_checked_and_dependencies_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"openldap", "redis", "postgres", "idp-a", "idp-b", "caddy", "hall", "oa", "data",
            "api", "academic", "prometheus"} <= set(services)
    # the apps image has a HEALTHCHECK
    images_with_healthcheck = {"hall", "oa", "data", "api", "academic"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if name != "idp-migrate" and name not in images_with_healthcheck:
            assert "test" in service.get("healthcheck", {}), f"{name} has no health check"
    assert "HEALTHCHECK" in (REPO / "Dockerfile").read_text().split("AS apps")[1].split("AS idp")[0]


def test_the_replicas_share_what_the_replica_tests_share(compose: dict[str, Any]) -> None:
    a, b = compose["services"]["idp-a"], compose["services"]["idp-b"]
    assert a["environment"] == b["environment"] and a["volumes"] == b["volumes"]
    env = a["environment"]
    assert env["IDP_DIRECTORY"] == "ldap" and env["IDP_LDAP_URL"].startswith("ldap://openldap")
    assert env["IDP_REDIS_URL"].startswith("redis://") and "@redis:6379" in env["IDP_REDIS_URL"]
    assert env["IDP_DATABASE_URL"].startswith("postgresql://")
    assert env["IDP_ISSUER"] == "https://id.localhost"
    assert "idp-keys:/var/lib/idp/keys" in a["volumes"]
    assert a["command"][:2] == ["idp", "serve"] and a["command"][-2:] == ["--workers", "1"]
    assert a["healthcheck"]["test"][-1].endswith("/readyz")
    assert "ports" not in a  # reached through the proxy only


def test_proxy_and_prometheus_see_both_replicas() -> None:
    caddyfile = (REPO / "deploy" / "Caddyfile").read_text()
    assert re.search(r"reverse_proxy idp-a:8000 idp-b:8000", caddyfile)
    assert re.search(r"@internal path /metrics\s+respond @internal 404", caddyfile)
    scrape = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == ["idp-a:8000", "idp-b:8000"]
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"


def test_files_the_compose_file_names_exist(raw: dict[str, Any]) -> None:
    for name, service in raw["services"].items():
        build = service.get("build")
        if isinstance(build, dict):
            dockerfile = REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file()
            if "target" in build:
                assert f"AS {build['target']}" in dockerfile.read_text(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).is_file(), f"{name} mounts missing {source}"
    dockerfile = (REPO / "deploy" / "openldap" / "Dockerfile").read_text()
    for source in re.findall(r"(?:directory|deploy/openldap)/[\w.-]+", dockerfile):
        assert (REPO / source).is_file(), source


def test_app_settings_match_what_each_app_reads(compose: dict[str, Any]) -> None:
    modules = {"hall": "service_hall", "oa": "oa", "data": "data_platform", "api": "campus_api",
               "academic": "academic"}
    for service, module in modules.items():
        source = (REPO / "clients" / module / "app.py").read_text()
        reads = set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', source)) | {"SSL_CERT_FILE"}
        given = set(compose["services"][service]["environment"])
        assert given <= reads, f"{service} is given settings it never reads: {given - reads}"


def test_the_openldap_image_seed_loads_schema_and_campus(tmp_path: Path) -> None:
    """deploy/openldap/seed.sh as the image build runs it: slapadd of cn=config (with the
    eduPerson schema), then directory/demo.ldif and the password policy; then slapd serves it."""
    source = tmp_path / "src"
    source.mkdir()
    for path in ("directory/eduperson.ldif", "directory/demo.ldif",
                 "deploy/openldap/slapd-config.ldif", "deploy/openldap/policies.ldif"):
        shutil.copy(REPO / path, source)
    subprocess.run([str(REPO / "deploy" / "openldap" / "seed.sh"), str(tmp_path / "conf"),
                    str(tmp_path / "data"), str(tmp_path / "run"), str(source)], check=True,
                   capture_output=True, timeout=60)
    port = free_port_run(1)
    url = f"ldap://127.0.0.1:{port}"
    slapd = subprocess.Popen(["/usr/sbin/slapd", "-d", "0", "-F", str(tmp_path / "conf"),
                              "-h", url + "/"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        service = _bind_when_up(url, "cn=idp,ou=services,dc=example,dc=edu", "idp-service-secret")
        people = service.search_s("ou=people,dc=example,dc=edu", ldap.SCOPE_SUBTREE,
                                  "(uid=teacher)", ["eduPersonAffiliation", "cn"])
        assert people and b"faculty" in people[0][1]["eduPersonAffiliation"]
        assert _bind_when_up(url, "uid=student,ou=people,dc=example,dc=edu", "student123")
        assert _anonymous_sees_nothing(ldap.initialize(url))
        with pytest.raises(ldap.INVALID_CREDENTIALS):
            ldap.initialize(url).simple_bind_s("uid=student,ou=people,dc=example,dc=edu", "nope")
    finally:
        slapd.terminate()
        slapd.wait(timeout=10)


def _bind_when_up(url: str, dn: str, password: str) -> ldap.ldapobject.LDAPObject:
    deadline = time.monotonic() + 10
    while True:
        conn = ldap.initialize(url)
        try:
            conn.simple_bind_s(dn, password)
            return conn
        except ldap.SERVER_DOWN:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _anonymous_sees_nothing(conn: ldap.ldapobject.LDAPObject) -> bool:
    try:
        return conn.search_s("dc=example,dc=edu", ldap.SCOPE_SUBTREE, "(uid=*)") == []
    except ldap.NO_SUCH_OBJECT:
        return True  # the base itself is not visible: even better


def test_every_image_is_built_from_the_one_base_image(raw: dict[str, Any]) -> None:
    """No image is pulled: each service builds FROM the BASE_IMAGE build argument (the public
    Debian image by default, a debootstrap-built one where no registry answers)."""
    for name, service in raw["services"].items():
        assert "build" in service, f"{name} pulls {service.get('image')}"
        assert service["build"]["args"] == {"BASE_IMAGE": "${BASE_IMAGE:-debian:bookworm-slim}"}, name
        dockerfile = (REPO / service["build"].get("dockerfile", "Dockerfile")).read_text()
        froms = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
        stages = set(re.findall(r"^FROM \S+ AS (\S+)", dockerfile, re.MULTILINE))
        assert froms and all(f == "${BASE_IMAGE}" or f in stages for f in froms), (name, froms)
        assert "ARG BASE_IMAGE=debian:bookworm-slim" in dockerfile, name


def test_the_image_lock_installs_on_debian_python() -> None:
    """The images run Debian bookworm's Python, 3.11.2: redis needs async-timeout below 3.11.3,
    which pip-compile on a newer Python leaves out of requirements/runtime.txt (`make lock`
    must keep it, or the image build stops at --require-hashes)."""
    lock = (REPO / "requirements" / "runtime.txt").read_text()
    assert re.search(r'^async-timeout==[\d.]+ ; python_full_version < "3\.11\.3" \\\n'
                     r'\s+--hash=sha256:', lock, re.MULTILINE)
