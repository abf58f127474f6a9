"""`idp clients add` for both protocols and with access rules, as an IT admin types it."""

from __future__ import annotations

import json

from tests.cli.conftest import Runner


def test_a_cas_service_with_attributes_and_a_rule(run_idp: Runner) -> None:
    added = run_idp("clients", "add", "--protocol", "cas", "--name", "教务系统",
                    "--service", "https://jw.example.edu/cas/login",
                    "--service", r"^https://jw\.example\.edu/app/.*$",
                    "--slo-url", "https://jw.example.edu/slo", "--attribute", "uid",
                    "--attribute", "memberOf", "--allow-affiliation", "student",
                    "--allow-group", "计算机学院", "--json", check=True)
    data = json.loads(added.stdout)
    assert data["protocol"] == "cas" and data["attributes"] == ["uid", "memberOf"]
    assert data["allow_groups"] == ["计算机学院"] and data["allow_affiliations"] == ["student"]
    assert data["cas_server"].endswith("/cas")
    listed = json.loads(run_idp("clients", "list", "--json", check=True).stdout)
    assert [(c["protocol"], c["services"]) for c in listed] == [
        ("cas", ["https://jw.example.edu/cas/login", r"^https://jw\.example\.edu/app/.*$"])]


def test_an_oidc_client_with_a_rule(run_idp: Runner) -> None:
    added = run_idp("clients", "add", "--name", "科研管理", "--redirect-uri",
                    "https://research.example.edu/cb", "--allow-group", "staff", "--json",
                    check=True)
    data = json.loads(added.stdout)
    assert data["protocol"] == "oidc" and data["allow_groups"] == ["staff"]
    assert data["client_secret"]


def test_mixed_or_bad_options_are_refused(run_idp: Runner) -> None:
    mixed = run_idp("clients", "add", "--protocol", "cas", "--name", "x",
                    "--service", "https://a.example.edu/", "--redirect-uri", "https://a/cb")
    assert mixed.returncode == 2 and "--redirect-uri cannot be used" in mixed.stderr
    unknown = run_idp("clients", "add", "--protocol", "cas", "--name", "x",
                      "--service", "https://a.example.edu/", "--attribute", "password")
    assert unknown.returncode == 2 and "unknown CAS attribute" in unknown.stderr
    plain_http = run_idp("clients", "add", "--protocol", "cas", "--name", "x",
                         "--service", "http://a.example.edu/")
    assert plain_http.returncode == 2 and "https" in plain_http.stderr
    unanchored = run_idp("clients", "add", "--protocol", "cas", "--name", "x",
                         "--service", "^https://a.example.edu/.*")
    assert unanchored.returncode == 2
    no_redirect = run_idp("clients", "add", "--name", "x")
    assert no_redirect.returncode == 2 and "--redirect-uri" in no_redirect.stderr
    assert json.loads(run_idp("clients", "list", "--json", check=True).stdout) == []


def test_required_scopes_on_add_and_update(run_idp: Runner) -> None:
    added = json.loads(run_idp(
        "clients", "add", "--name", "图书馆", "--redirect-uri", "https://lib.example.edu/cb",
        "--require-scope", "email", "--require-scope", "openid", "--json", check=True).stdout)
    assert added["required_scopes"] == ["openid", "email"]
    client_id = added["client_id"]
    updated = run_idp("clients", "update", client_id, "--require-scope", "campus",
                      "--require-scope", "profile", "--json", check=True)
    assert json.loads(updated.stdout)["required_scopes"] == ["openid", "campus", "profile"]
    cleared = run_idp("clients", "update", client_id, "--no-required-scopes", check=True)
    assert "required scopes of" in cleared.stdout and cleared.stdout.strip().endswith("openid")


def test_bad_required_scopes_are_refused_and_nothing_is_made(run_idp: Runner) -> None:
    outside = run_idp("clients", "add", "--name", "x", "--redirect-uri", "https://x.example.edu/cb",
                      "--scope", "openid", "--scope", "profile", "--require-scope", "email")
    assert outside.returncode == 2 and "not one of the app's scopes" in outside.stderr
    assert json.loads(run_idp("clients", "list", "--json", check=True).stdout) == []
    cas = run_idp("clients", "add", "--protocol", "cas", "--name", "x",
                  "--service", "https://a.example.edu/", "--require-scope", "email")
    assert cas.returncode == 2 and "--require-scope cannot be used" in cas.stderr
    missing = run_idp("clients", "update", "no-such-app", "--require-scope", "email")
    assert missing.returncode == 1 and "no OIDC client 'no-such-app'" in missing.stderr
    neither = run_idp("clients", "update", "no-such-app")
    assert neither.returncode == 2 and "--no-required-scopes" in neither.stderr
