"""The `idp` command on the embedded defaults, run as a real subprocess."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.cli.conftest import Runner


def test_check_says_when_the_schema_is_missing(run_idp: Runner) -> None:
    result = run_idp("check")
    assert result.returncode == 1
    assert "FAIL database" in result.stdout and "run `idp migrate`" in result.stdout
    assert "Traceback" not in result.stderr


def test_check_reports_every_backend(run_idp: Runner) -> None:
    run_idp("migrate", check=True)
    result = run_idp("check")
    assert result.returncode == 0, result.stderr
    for name in ("settings", "database", "store", "directory", "keys"):
        assert f"ok   {name}" in result.stdout


def test_check_names_what_failed(run_idp: Runner) -> None:
    run_idp("migrate", check=True)
    result = run_idp("check", env={"IDP_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode != 0
    assert "FAIL store" in result.stdout
    assert "cannot reach: store" in result.stderr


def test_check_never_shows_the_store_passwords(run_idp: Runner) -> None:
    run_idp("migrate", check=True)
    url = ("redis+sentinel://:data-secret@127.0.0.1:1,127.0.0.1:2/campus/0"
           "?sentinel_password=sentinel-secret")
    result = run_idp("check", env={"IDP_REDIS_URL": url})
    assert "FAIL store" in result.stdout
    assert "redis+sentinel://:***@127.0.0.1:1,127.0.0.1:2/campus/0?sentinel_password=***" in \
        result.stdout
    assert "secret" not in result.stdout + result.stderr


def test_bad_setting_exits_with_its_name(run_idp: Runner) -> None:
    result = run_idp("check", env={"IDP_ISSUER": "ftp://nope"})
    assert result.returncode == 2
    assert "IDP_ISSUER" in result.stderr


def test_demo_people_show_and_verify(run_idp: Runner) -> None:
    seeded = run_idp("demo", "--no-serve", check=True)
    assert "student" in seeded.stdout and "client_id=" in seeded.stdout

    shown = run_idp("users", "show", "student", "--json", check=True)
    person = json.loads(shown.stdout)
    assert person["username"] == "student"
    assert person["name"] == "张三"
    assert person["subject"] and person["subject"] != "student"  # stable id, not the login name
    assert "students" in person["groups"]
    assert person["number"]

    ok = run_idp("users", "verify", "student", input="student123\n")
    assert ok.returncode == 0 and ok.stdout.startswith("OK student")

    bad = run_idp("users", "verify", "student", input="wrong\n")
    unknown = run_idp("users", "verify", "nobody-here", input="wrong\n")
    assert bad.returncode == 1 and unknown.returncode == 1
    assert bad.stdout == unknown.stdout  # no account enumeration through the CLI either
    assert "invalid_credentials" in bad.stdout

    empty = run_idp("users", "verify", "student", input="\n")
    assert empty.returncode == 1 and "invalid_credentials" in empty.stdout

    missing = run_idp("users", "show", "nobody-here")
    assert missing.returncode == 1 and "no such person" in missing.stderr


def test_demo_is_idempotent(run_idp: Runner) -> None:
    first = run_idp("demo", "--no-serve", check=True)
    second = run_idp("demo", "--no-serve", check=True)
    client_line = [line for line in first.stdout.splitlines() if "client_id=" in line]
    assert client_line and client_line == [
        line for line in second.stdout.splitlines() if "client_id=" in line
    ]


def test_clients_add_prints_secret_once_and_lists(run_idp: Runner) -> None:
    added = run_idp("clients", "add", "--name", "OA system", "--redirect-uri",
                    "https://oa.example.edu/callback", "--redirect-uri",
                    "http://localhost:8080/callback", "--scope", "openid", "--scope", "campus",
                    "--json", check=True)
    data = json.loads(added.stdout)
    assert data["client_id"] and data["client_secret"]
    listed = json.loads(run_idp("clients", "list", "--json", check=True).stdout)
    assert [c["name"] for c in listed if c["client_id"] == data["client_id"]] == ["OA system"]
    assert data["client_secret"] not in run_idp("clients", "list", check=True).stdout

    public = json.loads(run_idp("clients", "add", "--name", "Data platform", "--public",
                                "--redirect-uri", "http://localhost:5173/", "--json",
                                check=True).stdout)
    assert public["client_secret"] is None
    assert public["token_endpoint_auth_method"] == "none"


def test_clients_add_refuses_bad_redirect_uri(run_idp: Runner) -> None:
    for uri in ("javascript:alert(1)", "http://evil.example.com/cb", "https://x.example.edu/#frag"):
        result = run_idp("clients", "add", "--name", "bad", "--redirect-uri", uri, "--json")
        assert result.returncode == 2, uri
        assert "error:" in result.stderr


def test_keys_rotate(run_idp: Runner, tmp_path: Path) -> None:
    before = json.loads(run_idp("keys", "list", "--json", check=True).stdout)
    current = {r["alg"]: r["kid"] for r in before if r["state"] == "current"}
    upcoming = {r["alg"]: r["kid"] for r in before if r["state"] == "next"}
    assert set(current) == {"RS256", "ES256"}
    run_idp("keys", "rotate", check=True)
    after = json.loads(run_idp("keys", "list", "--json", check=True).stdout)
    assert {r["alg"]: r["kid"] for r in after if r["state"] == "current"} == upcoming
    retired = {r["kid"] for r in after if r["state"] == "retired"}
    assert set(current.values()) <= retired
    for path in (tmp_path / "keys").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
