"""`idp users import FILE.csv [--dry-run]` (the command object the lead attaches to `idp users`),
run with click's CliRunner against a local directory in SQLite and against slapd: every error
with its line number and nothing written, --dry-run, a progress bar, a result file with the
one-time passwords (readable by its owner only), and a second run that changes nothing."""

from __future__ import annotations

import asyncio
import csv
import os
import stat
from pathlib import Path

from click.testing import CliRunner

from directory.demo_people import seed_local
from directory.local import LocalDirectory
from idp.cli.users import import_
from idp.db.engine import open_engine
from idp.db.migrate import upgrade
from tests.support.slapd import Campus, ldap_settings

HEADER = "username,name,email,affiliation,groups,password"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: "" for k in os.environ if k.startswith("IDP_")}
    env.update({"IDP_DATABASE_URL": f"sqlite:///{tmp_path}/idp.db",
                "IDP_KEYS_DIR": str(tmp_path / "keys"), "IDP_DIRECTORY": "local"})
    return {k: v for k, v in env.items() if v}


async def _seed(url: str) -> None:
    await upgrade(url)
    engine = open_engine(url)
    directory = LocalDirectory(engine)
    await seed_local(directory)
    await directory.close()
    await engine.dispose()


async def _people(url: str, names: list[str]) -> dict[str, tuple[str, ...] | None]:
    engine = open_engine(url)
    directory = LocalDirectory(engine)
    try:
        found = {}
        for name in names:
            person = await directory.find(name)
            found[name] = person.groups if person else None
        return found
    finally:
        await directory.close()
        await engine.dispose()


def _run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(import_, list(args), obj={"config": None}, env=env)


def test_cli_import_on_the_local_directory(tmp_path: Path) -> None:
    env = _env(tmp_path)
    url = env["IDP_DATABASE_URL"]
    asyncio.run(_seed(url))
    names = [f"intake{n}" for n in range(12)]
    rows = [HEADER] + [f"{name},新生{n},{name}@example.edu,student,students;staff,"
                       for n, name in enumerate(names)]
    rows[3] = rows[3].replace("students;staff", "students;ghosts")
    rows[7] = rows[7].replace(",student,", ",pirate,")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = _run(env, str(bad))
    assert result.exit_code == 1, result.output
    assert "bad.csv: line 4, column groups: no group named 'ghosts'" in result.stderr
    assert "bad.csv: line 8, column affiliation: unknown affiliation 'pirate'" in result.stderr
    assert "2 error(s); nothing was written." in result.stderr
    assert set(asyncio.run(_people(url, names)).values()) == {None}

    rows[3] = rows[3].replace("ghosts", "staff")
    rows[7] = rows[7].replace(",pirate,", ",student,")
    good = tmp_path / "intake.csv"
    good.write_bytes(b"\xef\xbb\xbf" + ("\n".join(rows) + "\n").encode("utf-8"))  # Excel's BOM
    dry = _run(env, str(good), "--dry-run")
    assert dry.exit_code == 0 and "12 rows are valid; nothing was written" in dry.output
    assert set(asyncio.run(_people(url, names)).values()) == {None}

    done = _run(env, str(good))
    assert done.exit_code == 0, done.output + done.stderr
    assert "Importing" in done.stderr  # the progress bar
    assert "created 12, updated 0, unchanged 0 of 12 rows" in done.output
    result_file = tmp_path / "intake.result.csv"
    assert stat.S_IMODE(result_file.stat().st_mode) == 0o600
    written = list(csv.DictReader(result_file.open(encoding="utf-8")))
    assert [r["username"] for r in written] == names and all(len(r["password"]) >= 12 for r in written)
    assert asyncio.run(_people(url, names))["intake3"] == ("staff", "students")

    again = _run(env, str(good), "--result", str(tmp_path / "second.csv"))
    assert again.exit_code == 0 and "created 0, updated 0, unchanged 12 of 12 rows" in again.output
    assert {r["password"] for r in csv.DictReader((tmp_path / "second.csv").open())} == {""}


def test_cli_import_into_slapd(admin_slapd: Campus, tmp_path: Path) -> None:
    server = admin_slapd.server
    settings = ldap_settings(server)
    env = {**_env(tmp_path), "IDP_DIRECTORY": "ldap", "IDP_LDAP_URL": settings.url,
           "IDP_LDAP_BIND_DN": settings.bind_dn,
           "IDP_LDAP_BIND_PASSWORD": settings.bind_password.get_secret_value(),
           "IDP_LDAP_USER_BASE": settings.user_base, "IDP_LDAP_GROUP_BASE": settings.group_base,
           "IDP_LDAP_ADMIN_BIND_DN": server.root_dn, "IDP_LDAP_ADMIN_BIND_PASSWORD": server.root_pw}
    file = tmp_path / "ldap.csv"
    file.write_text(HEADER + "\n" + "\n".join(
        f"cli{n}x,学生{n},cli{n}x@example.edu,student;member,students,Welcome-2025-{n}"
        for n in range(5)) + "\n", encoding="utf-8")
    done = _run(env, str(file))
    assert done.exit_code == 0, done.output + done.stderr
    assert "created 5" in done.output
    written = list(csv.DictReader((tmp_path / "ldap.result.csv").open()))
    assert {r["password"] for r in written} == {""}  # passwords were given: none generated
    again = _run(env, str(file))
    assert "created 0, updated 0, unchanged 5 of 5 rows" in again.output
    no_admin = {k: v for k, v in env.items() if not k.startswith("IDP_LDAP_ADMIN")}
    newcomer = tmp_path / "newcomer.csv"
    newcomer.write_text(HEADER + "\nclinew,新人,clinew@example.edu,student,students,\n", encoding="utf-8")
    refused = _run(no_admin, str(newcomer))
    assert refused.exit_code == 2
    assert "IDP_LDAP_ADMIN_BIND_DN" in refused.stderr and "line 2" in refused.stderr
