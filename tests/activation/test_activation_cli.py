"""`idp users import FILE --activate`: new people without a password are marked to activate
(no one-time password in the result), and the flag is refused while activation is off."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from click.testing import CliRunner

from directory.local import LocalDirectory
from idp.cli.users import import_
from idp.db.activation import ActivationMarks
from idp.db.engine import open_engine, sessionmaker
from idp.db.migrate import upgrade
from tests.admin.test_admin_cli_import import _env


async def _marked(url: str, usernames: list[str]) -> dict[str, bool]:
    engine = open_engine(url)
    directory = LocalDirectory(engine)
    try:
        marks = ActivationMarks(sessionmaker(engine))
        found = {}
        for name in usernames:
            person = await directory.find(name)
            assert person is not None, name
            found[name] = await marks.is_marked(person.subject)
        return found
    finally:
        await directory.close()
        await engine.dispose()


def test_cli_import_marks_people_to_activate(tmp_path: Path) -> None:
    env = _env(tmp_path)
    asyncio.run(upgrade(env["IDP_DATABASE_URL"]))
    file = tmp_path / "intake.csv"
    file.write_text("username,name,family_name,number,password\n"
                    "newa,新甲,新,20260001,\n"
                    "newb,新乙,新,20260002,Given-password-1\n", encoding="utf-8")

    off = CliRunner().invoke(import_, [str(file), "--activate"], obj={"config": None}, env=env)
    assert off.exit_code != 0 and "IDP_ACTIVATION_FACTS" in off.output

    env["IDP_ACTIVATION_FACTS"] = "employeeNumber,sn"
    done = CliRunner().invoke(import_, [str(file), "--activate"], obj={"config": None}, env=env)
    assert done.exit_code == 0, done.output
    assert "1 to activate at" in done.output
    rows = {r["username"]: r for r in csv.DictReader(
        (tmp_path / "intake.result.csv").open(encoding="utf-8"))}
    assert (rows["newa"]["status"], rows["newa"]["password"]) == ("to_activate", "")
    assert (rows["newb"]["status"], rows["newb"]["password"]) == ("created", "")
    # a row with its own password keeps it and is not marked
    assert asyncio.run(_marked(env["IDP_DATABASE_URL"], ["newa", "newb"])) == {
        "newa": True, "newb": False}
