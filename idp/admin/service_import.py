"""Bulk intake (`idp users import`, the console's import page, POST /admin/api/imports).

1. every row is checked first (service_import_rows.py); with any error nothing is written;
2. each row is then applied on its own: a new person is created completely or not at all (when
   a group cannot be joined, the new account is deleted again, LDAP or local) and gets the given
   password, the given password hash, or a generated one-time password (reported once, in the
   result) - or, when the plan says `activate`, no password and the "to activate" mark
   (idp/db/activation.py), so the person sets their own at /activate; an existing person with
   the same data is left alone ("unchanged"), one whose non-empty columns differ is updated and
   joins the missing groups ("updated"). Re-running the same file is therefore a no-op, and
   re-running it after a failure carries on where it stopped;
3. the first row that cannot be written stops the import: the rows before it are done, the row
   itself is rolled back, no new row is started (on LDAP, where a few rows are written at once,
   the ones already under way finish, each complete), and the report says which line failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from directory.base import Directory, DirectoryError, Person
from directory.writes import DirectoryWriter
from idp.admin.service_common import Actor, writer_of
from idp.admin.service_fields import generate_password
from idp.admin.service_import_rows import ImportPlan, ImportRow, RowError, decode, parse
from idp.db.activation import ActivationMarks
from idp.db.audit import Audit
from idp.http.csv_cells import csv_text

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger("idp.admin.import")

Progress = Callable[["ImportResult"], Awaitable[None]]


@dataclass
class ImportTarget:
    """What an import reads and writes: the directory, its writer, the audit log."""

    directory: Directory
    writer: DirectoryWriter
    audit: Audit
    marks: ActivationMarks

    @classmethod
    def of(cls, services: Services) -> ImportTarget:
        return cls(services.directory, writer_of(services), services.audit,
                   ActivationMarks(services.db))

    def hash_ok(self, value: str) -> bool:
        """Whether the directory can store this password hash as it is."""
        from directory.local import PASSWORDS, LocalDirectory

        if isinstance(self.writer, LocalDirectory):
            try:
                return PASSWORDS.identify(value) is not None
            except (ValueError, TypeError):
                return False
        if getattr(self.writer, "active_directory", False):
            # AD keeps its own hashes and takes only a cleartext unicodePwd: a hash column is
            # a line-numbered error before anything is written, not a failure at its row
            return False
        # LDAP userPassword takes RFC 2307 {SCHEME}value hashes; the server verifies them
        scheme, _, rest = value.partition("}")
        return value.startswith("{") and scheme[1:].replace("-", "").isalnum() and bool(rest)

    @property
    def concurrency(self) -> int:
        # LDAP: as many rows at once as the writer has admin connections (more would only wait
        # for one); SQLite has a single writer, so one row at a time there
        return max(1, int(getattr(self.writer, "pool_size", 1)))


@dataclass
class ImportResult:
    total: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    passwords: dict[str, str] = field(default_factory=dict)  # generated, shown once
    to_activate: list[str] = field(default_factory=list)  # created without one, marked
    statuses: dict[int, tuple[str, str]] = field(default_factory=dict)  # line -> (username, status)
    failure: RowError | None = None

    @property
    def done(self) -> int:
        return len(self.created) + len(self.updated) + self.unchanged

    def summary(self) -> dict[str, Any]:
        return {"total": self.total, "done": self.done, "created": len(self.created),
                "updated": len(self.updated), "unchanged": self.unchanged,
                "to_activate": len(self.to_activate),
                "failure": str(self.failure) if self.failure else None}

    def result_csv(self) -> str:
        """line, username, status, one-time password (only for generated ones); no cell a
        spreadsheet would evaluate (csv_cells.py)."""
        rows: list[list[object]] = [["line", "username", "status", "password"]]
        for line in sorted(self.statuses):
            username, status = self.statuses[line]
            rows.append([line, username, status, self.passwords.get(username, "")])
        return csv_text(rows)


async def check_file(target: ImportTarget, data: bytes) -> ImportPlan:
    """Decode and check every row (nothing is written)."""
    try:
        text = decode(data)
    except ValueError as exc:
        plan = ImportPlan()
        plan.add_error(1, None, str(exc))
        return plan
    groups = {group.name for group in await target.directory.groups()}
    return parse(text, known_groups=groups, hash_ok=target.hash_ok)


def _changes(person: Person, row: ImportRow) -> dict[str, Any]:
    changes = {}
    for name, value in row.fields.items():
        current = getattr(person, name)
        if isinstance(value, list):
            if list(current or ()) != value:
                changes[name] = value
        elif current != value:
            changes[name] = value
    return changes


async def _create(target: ImportTarget, row: ImportRow, result: ImportResult,
                  activate: bool) -> None:
    if activate and not (row.password or row.password_hash):
        await _create_to_activate(target, row, result)
        return
    generated = None if (row.password or row.password_hash) else generate_password()
    # all or nothing: a group that cannot be joined undoes the creation (the writer's rule).
    # A generated password travels on a printed list: it works for the first login only, which
    # then asks for the person's own (the change-password step resumes that login)
    fields = {**row.fields, "must_change": True} if generated else row.fields
    await target.writer.create_person(row.username, password=row.password or generated,
                                      password_hash=row.password_hash, groups=row.groups,
                                      **fields)
    result.created.append(row.username)
    result.statuses[row.line] = (row.username, "created")
    if generated:
        result.passwords[row.username] = generated


async def _create_to_activate(target: ImportTarget, row: ImportRow,
                              result: ImportResult) -> None:
    """No password at all, and the mark: the person proves who they are at /activate. A mark
    that cannot be written undoes the creation, as a group that cannot be joined does (an
    account nobody can ever log in to must not stay behind)."""
    person = await target.writer.create_person(row.username, groups=row.groups, **row.fields)
    try:
        await target.marks.mark(person.subject, person.username, by="import")
    except Exception:
        await target.writer.delete_person(person.username)
        raise
    result.created.append(row.username)
    result.to_activate.append(row.username)
    result.statuses[row.line] = (row.username, "to_activate")


async def _apply(target: ImportTarget, row: ImportRow, result: ImportResult,
                 activate: bool = False) -> None:
    existing = await target.directory.find(row.username)
    if existing is None:
        await _create(target, row, result, activate)
        return
    changes = _changes(existing, row)
    missing = [group for group in row.groups if group not in existing.groups]
    if changes:
        await target.writer.update_person(existing.username, **changes)
    for group in missing:
        await target.writer.add_member(group, existing.username)
    if changes or missing:
        result.updated.append(existing.username)
        result.statuses[row.line] = (existing.username, "updated")
    else:
        result.unchanged += 1
        result.statuses[row.line] = (existing.username, "unchanged")


async def run_import(target: ImportTarget, plan: ImportPlan, actor: Actor, *,
                     progress: Progress | None = None, filename: str | None = None) -> ImportResult:
    """Apply a checked plan (see the module docstring); audited as one "admin" event."""
    if not plan.valid:
        raise ValueError("the plan has errors: nothing may be written")
    result = ImportResult(total=len(plan.rows))
    rows = iter(plan.rows)
    stop = asyncio.Event()

    async def worker() -> None:
        for row in rows:  # workers share the iterator: each row is taken once
            if stop.is_set():
                return
            try:
                await _apply(target, row, result, plan.activate)
            except (DirectoryError, ValueError, SQLAlchemyError) as exc:
                reason = str(exc)
                if isinstance(exc, DirectoryError) and exc.detail:
                    reason += f" ({exc.detail})"
                if result.failure is None or row.line < result.failure.line:
                    result.failure = RowError(row.line, None, f"{row.username}: {reason}")
                stop.set()
                return
            if progress is not None:
                await progress(result)

    await asyncio.gather(*(worker() for _ in range(target.concurrency)))
    outcome = "success" if result.failure is None else "failed"
    await target.audit.record(
        "admin", outcome, actor=actor.username, ip=actor.ip, client_id=actor.client_id,
        action="import_people", via=actor.via, file=filename, activate=plan.activate,
        **result.summary(),
        created_usernames=result.created, updated_usernames=result.updated)
    if progress is not None:
        await progress(result)
    return result
