"""Every CSV campus-idp writes (the audit export, the import result of the console, the API
and `idp users import --result`) goes through here, so that none of its cells is a formula
when an admin opens the file in a spreadsheet (CSV injection, OWASP "CSV Injection").

A cell whose text begins with = + - @ TAB or CR is evaluated by Excel, LibreOffice or WPS (a
login name typed as `=HYPERLINK(...)` on the login form reaches the audit log as the actor);
OWASP's rule is to prefix such a cell with a single quote, which spreadsheets take as "text"
and do not show. The csv module quotes every cell that holds a delimiter, quote or line break,
so no value can close its cell early and start another one.

In idp/http, the lowest layer, so that any layer that writes a CSV file or download can use it.
The same characters are refused at the start of a username (idp/admin/service_fields.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

# OWASP's list: what makes a spreadsheet read a cell as a formula (TAB and CR because some
# spreadsheets drop them and read on)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def starts_like_formula(text: str) -> bool:
    return text[:1] in FORMULA_STARTS


def safe_cell(value: object) -> str:
    """The cell's text, with a leading ' when a spreadsheet would otherwise evaluate it."""
    text = "" if value is None else str(value)
    return "'" + text if starts_like_formula(text) else text


def csv_line(values: Iterable[object]) -> str:
    """One CSV record (with its line break), every cell made safe."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(value) for value in values])
    return buffer.getvalue()


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """Whole CSV text, every cell of every row made safe."""
    return "".join(csv_line(row) for row in rows)
