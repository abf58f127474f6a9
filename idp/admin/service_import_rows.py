"""Reading an intake CSV and checking EVERY row before anything is written.

The file (UTF-8, as Excel's "CSV UTF-8" saves it; a BOM is fine) has a header row naming its
columns, in any order; only `username` is required:

    username       login name (letters, digits, . _ @ + -)
    name           display name, e.g. 张三
    family_name    surname (sn)
    given_name     given name
    email          e-mail address
    phone          telephone number
    number         student or staff number
    department     department / school
    affiliation    eduPersonAffiliation, several separated by ";" (student;member)
    groups         groups to join, separated by ";" (each must exist already)
    password       optional initial password; empty: a one-time password is generated
                   (and written to the result file), or, when the import marks people "to
                   activate" (`--activate`), none: they set their own at /activate
    password_hash  optional already-hashed password from an old system ({SSHA}…, {CRYPT}…, or an
                   argon2 hash on the local directory); not together with `password`

Every problem is reported with its line number (the header is line 1) and column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from idp.admin.service_fields import FieldErrors, check_password, clean_fields, clean_username

COLUMNS = ("username", "name", "family_name", "given_name", "email", "phone", "number",
           "department", "affiliation", "groups", "password", "password_hash")
FIELD_COLUMNS = {"name": "name", "family_name": "family_name", "given_name": "given_name",
                 "email": "email", "phone": "phone", "number": "number",
                 "department": "department", "affiliation": "affiliations"}
MAX_ROWS = 100_000
MAX_BYTES = 32 * 1024 * 1024
MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportRow:
    line: int
    username: str
    fields: dict[str, Any]  # only the columns given and non-empty
    groups: list[str]
    password: str | None = None
    password_hash: str | None = None


@dataclass
class ImportPlan:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0  # every error, also those beyond MAX_REPORTED_ERRORS
    # new people without a password column are marked "to activate" (they set their own at
    # /activate) instead of getting a generated one-time password
    activate: bool = False

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def add_error(self, line: int, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, column, message))


def decode(data: bytes) -> str:
    """The file's text; ValueError when it is not UTF-8 (with the fix in the message)."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"line {line}: the file is not UTF-8 (in Excel: Save As → "
                         "\"CSV UTF-8 (Comma delimited)\")") from None


def _header(names: list[str], plan: ImportPlan) -> list[str] | None:
    header = [name.strip().lower() for name in names]
    for name in header:
        if name not in COLUMNS:
            plan.add_error(1, name or "(empty)", f"unknown column (known: {', '.join(COLUMNS)})")
    for name in {n for n in header if header.count(n) > 1}:
        plan.add_error(1, name, "column appears twice")
    if "username" not in header:
        plan.add_error(1, "username", "the username column is required")
    return header if plan.valid else None


def _row(line: int, values: dict[str, str], plan: ImportPlan, known_groups: set[str],
         hash_ok: Callable[[str], bool]) -> ImportRow | None:
    errors_before = plan.error_count
    try:
        username = clean_username(values.get("username", ""))
    except ValueError as exc:
        plan.add_error(line, "username", str(exc))
        username = ""
    raw = {FIELD_COLUMNS[c]: v for c, v in values.items() if c in FIELD_COLUMNS and v.strip()}
    try:
        fields = clean_fields(raw, partial=True)
    except FieldErrors as exc:
        reverse = {attr: column for column, attr in FIELD_COLUMNS.items()}
        for name, message in exc.errors.items():
            plan.add_error(line, reverse.get(name, name), message)
        fields = {}
    groups = [g.strip() for g in values.get("groups", "").split(";") if g.strip()]
    for group in groups:
        if group not in known_groups:
            plan.add_error(line, "groups", f"no group named {group!r} in the directory")
    password = values.get("password") or None
    password_hash = (values.get("password_hash") or "").strip() or None
    if password and password_hash:
        plan.add_error(line, "password", "give a password or a password_hash, not both")
    if password:
        try:
            check_password(password)
        except ValueError as exc:
            plan.add_error(line, "password", str(exc))
    if password_hash and not hash_ok(password_hash):
        plan.add_error(line, "password_hash", "not a hash this directory accepts")
    if plan.error_count > errors_before:
        return None
    return ImportRow(line, username, fields, list(dict.fromkeys(groups)), password, password_hash)


def parse(text: str, *, known_groups: Iterable[str], hash_ok: Callable[[str], bool]) -> ImportPlan:
    """Check every row; the plan holds the rows (when all are fine) or every error found."""
    plan = ImportPlan()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        names = next(reader)
    except StopIteration:
        plan.add_error(1, None, "the file is empty")
        return plan
    except csv.Error as exc:
        plan.add_error(1, None, f"not a CSV file: {exc}")
        return plan
    header = _header(names, plan)
    if header is None:
        return plan
    groups = set(known_groups)
    seen: dict[str, int] = {}
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            plan.add_error(line, None, f"unreadable CSV: {exc}")
            break
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are not rows
        if len(plan.rows) + plan.error_count >= MAX_ROWS:
            plan.add_error(line, None, f"more than {MAX_ROWS} rows: split the file")
            break
        if len(cells) != len(header):
            plan.add_error(line, None, f"{len(cells)} cells, but the header has {len(header)}")
            continue
        row = _row(line, dict(zip(header, cells, strict=True)), plan, groups, hash_ok)
        if row is None:
            continue
        key = row.username.casefold()
        if key in seen:
            plan.add_error(line, "username", f"{row.username!r} is already on line {seen[key]}")
            continue
        seen[key] = line
        plan.rows.append(row)
    if not plan.rows and plan.valid:
        plan.add_error(2, None, "the file has a header but no rows")
    if not plan.valid:
        plan.rows = []  # nothing is written unless every row is fine
    return plan
