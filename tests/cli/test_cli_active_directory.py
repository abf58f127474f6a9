"""The `idp` command on Active Directory (a real Samba AD DC), configured with exactly the
IDP_LDAP_* variables README's "Connect Active Directory" section exports: `idp check` (and its
warning about plain ldap:// URIs), `idp users show / verify`, and the September intake with
`idp users import` into AD."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest

from tests.cli.conftest import Runner
from tests.support.samba_dc import PEOPLE, SambaDC


@pytest.fixture
def ad_env(samba_dc: SambaDC) -> dict[str, str]:
    return samba_dc.environment()


def test_check_reaches_the_dc_and_warns_about_a_plain_uri(
    run_idp: Runner, ad_env: dict[str, str],
) -> None:
    run_idp("migrate", check=True)
    result = run_idp("check", env=ad_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok   directory  ldaps://127.0.0.1 (activedirectory, base {PEOPLE})" in result.stdout
    assert "WARN" not in result.stdout

    url = "ldap://127.0.0.1:1 ldaps://127.0.0.1"
    mixed = run_idp("check", env={**ad_env, "IDP_LDAP_URL": url})
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr  # it works meanwhile
    assert "ok   directory  ldaps://127.0.0.1 " in mixed.stdout
    warning = next(line for line in mixed.stdout.splitlines() if line.startswith("WARN"))
    assert "ldap://127.0.0.1:1" in warning and "ldaps://127.0.0.1 " not in warning
    assert "IDP_LDAP_START_TLS" in warning


def test_users_show_and_verify(run_idp: Runner, ad_env: dict[str, str]) -> None:
    shown = run_idp("users", "show", "TEACHER", "--json", env=ad_env, check=True)
    person = json.loads(shown.stdout)
    assert person["username"] == "teacher" and person["name"] == "李老师"
    assert person["groups"] == ["faculty", "staff"]  # staff through faculty
    assert str(uuid.UUID(person["subject"])) == person["subject"]  # objectGUID
    assert person["affiliations"] == ["faculty", "staff", "member"]
    assert person["principal_name"] == "teacher@example.edu"

    ok = run_idp("users", "verify", "student", input="student123\n", env=ad_env)
    assert ok.returncode == 0 and ok.stdout.startswith("OK student ")
    for username, password, kind in [
        # the other states are the directory suite's (tests/directory/test_active_directory.py)
        ("student", "student124", "invalid_credentials"),
        ("disabled", "disabled-pass-1", "account_disabled"),
        ("mustchange", "mustchange-pass-1", "must_change_password"),
    ]:
        failed = run_idp("users", "verify", username, input=f"{password}\n", env=ad_env)
        assert failed.returncode == 1 and failed.stdout.startswith(f"FAILED {kind}:"), failed.stdout


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_intake_into_active_directory(
    run_idp: Runner, ad_env: dict[str, str], samba_dc: SambaDC, tmp_path: Path,
) -> None:
    stem = f"in{uuid.uuid4().hex[:5]}"
    header = ["username", "name", "email", "number", "department", "affiliation", "groups",
              "password"]
    rows = [[f"{stem}{n:02d}", f"新生{n}", f"{stem}{n:02d}@example.edu", f"2025{n:06d}",
             "计算机学院", "student;member", "students", "" if n % 2 else f"Chosen-pass-{n}"]
            for n in range(12)]
    hashed = _write(tmp_path / "hashed.csv", [["username", "password_hash"],
                                               [f"{stem}h", "{SSHA}c2VjcmV0c2FsdA=="]])
    refused = run_idp("users", "import", str(hashed), env=ad_env)
    assert refused.returncode == 1
    assert "line 2, column password_hash" in refused.stderr and "nothing was written" in refused.stderr

    intake = _write(tmp_path / "intake.csv", [header, *rows])
    done = run_idp("users", "import", str(intake), env=ad_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created 12, updated 0, unchanged 0 of 12 rows" in done.stdout
    assert "(6 one-time passwords)" in done.stdout
    with (tmp_path / "intake.result.csv").open(encoding="utf-8") as handle:
        result = {row["username"]: row for row in csv.DictReader(handle)}

    # a chosen password signs in; a one-time one asks for the person's own (pwdLastSet 0)
    first = run_idp("users", "verify", f"{stem}00", input="Chosen-pass-0\n", env=ad_env)
    assert first.returncode == 0, first.stdout
    one_time = result[f"{stem}01"]["password"]
    assert one_time
    second = run_idp("users", "verify", f"{stem}01", input=f"{one_time}\n", env=ad_env)
    assert second.stdout.startswith("FAILED must_change_password:")
    entry = samba_dc.entry(samba_dc.person_dn(f"{stem}05"), ["memberOf", "employeeID",
                                                             "userAccountControl"])
    assert entry["memberOf"] == [f"CN=students,{samba_dc.settings().group_base}".encode()]
    assert entry["employeeID"] == [b"2025000005"]
    assert int(entry["userAccountControl"][0]) & 0x2 == 0  # enabled once its password was set

    again = run_idp("users", "import", str(intake), env=ad_env)
    assert "created 0, updated 0, unchanged 12 of 12 rows" in again.stdout


def test_start_tls_silences_the_warning(samba_dc: SambaDC, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning's rule itself, without a subprocess: StartTLS upgrades the plain URIs."""
    from idp.cli.checks import warnings
    from idp.settings import load_settings

    for name, value in {**samba_dc.environment(), "IDP_LDAP_URL": "ldap://127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    assert [name for name, _ in warnings(load_settings())] == ["ldap tls"]
    monkeypatch.setenv("IDP_LDAP_START_TLS", "true")
    assert warnings(load_settings()) == []
    monkeypatch.setenv("IDP_LDAP_START_TLS", "false")
    monkeypatch.setenv("IDP_LDAP_PROFILE", "openldap")
    assert warnings(load_settings()) == []


async def test_check_warns_about_the_openldap_filter_on_ad(
    samba_dc: SambaDC, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Left at its default, the user filter finds nobody in the domain: every sign-in would be
    "invalid username or password"."""
    from directory.ldap import LdapDirectory
    from idp.cli.checks import warnings
    from idp.settings import load_settings

    for name, value in samba_dc.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("IDP_LDAP_USER_FILTER")
    settings = load_settings()
    [(name, detail)] = warnings(settings)
    assert name == "ldap filter" and "sAMAccountName" in detail
    directory = LdapDirectory(settings.ldap)
    try:
        assert await directory.find("student") is None  # what the warning is about
    finally:
        await directory.close()
