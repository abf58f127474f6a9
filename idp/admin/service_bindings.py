"""Upstream-account bindings for admins: a person's list, removing one, and binding in bulk
from a CSV of campus number -> upstream user id (a WeCom or DingTalk userid exported from the
organisation's contacts), so staff need not bind one by one.

A bulk file is checked whole before anything is written, as the people import is: every
problem is reported with its line, and a file with any problem binds no one.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from directory.base import Person
from idp.admin.service_common import Actor, Invalid, NotFound, audited, directory_errors, writer_of
from idp.upstream.base import UpstreamAccount
from idp.upstream.bindings import AlreadyBound, Binding

if TYPE_CHECKING:
    from idp.services import Services

MAX_ROWS = 50_000
MAX_ID = 200
NUMBER_COLUMNS = ("number", "username")  # the campus side: a student/staff number or login name
UPSTREAM_COLUMNS = ("upstream_id", "userid")  # the upstream side


@dataclass
class BulkProblem:
    line: int
    message: str


@dataclass
class BulkResult:
    bound: int = 0
    unchanged: int = 0  # already bound to the same person
    problems: list[BulkProblem] = field(default_factory=list)


async def _person(services: Services, username: str) -> Person:
    with directory_errors():
        person = await services.directory.find(username)
    if person is None:
        raise NotFound(f"no person {username!r}")
    return person


async def bindings_of(services: Services, username: str) -> tuple[Person, list[Binding]]:
    person = await _person(services, username)
    return person, await services.upstreams.bindings.of_subject(person.subject)


async def remove_binding(services: Services, actor: Actor, username: str,
                         binding_id: int) -> Binding:
    """Remove one of this person's bindings (another person's id is "not found")."""
    person = await _person(services, username)

    async def remove() -> Binding:
        removed = await services.upstreams.bindings.remove(binding_id, subject=person.subject)
        if removed is None:
            raise NotFound("no such binding for this person")
        return removed

    return await audited(services, actor, "remove_binding", remove(), target=username,
                         binding=binding_id)


async def _by_number(services: Services, number: str) -> Person | None:
    """The person whose login name is `number`, else the one person whose number it is."""
    with directory_errors():
        person = await services.directory.find(number)
        if person is not None:
            return person
        found = [p for p in await writer_of(services).search(number, 0, 10) if p.number == number]
    return found[0] if len(found) == 1 else None


def _rows(text: str) -> tuple[list[tuple[int, str, str]], list[BulkProblem]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [cell.strip().lower() for cell in next(reader, [])]
    number = next((header.index(c) for c in NUMBER_COLUMNS if c in header), None)
    upstream = next((header.index(c) for c in UPSTREAM_COLUMNS if c in header), None)
    if number is None or upstream is None:
        return [], [BulkProblem(1, "the header row must name a number column (number or "
                                   "username) and an upstream id column (upstream_id or userid)")]
    rows, problems = [], []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_ROWS:
            problems.append(BulkProblem(line, f"at most {MAX_ROWS} rows per file"))
            break
        if max(number, upstream) >= len(cells):
            problems.append(BulkProblem(line, "missing a column"))
            continue
        left, right = cells[number].strip(), cells[upstream].strip()
        if not left or not right or len(right) > MAX_ID or len(left) > 256:
            problems.append(BulkProblem(line, "empty or too long value"))
            continue
        rows.append((line, left, right))
    return rows, problems


async def bind_bulk(services: Services, actor: Actor, provider: str, data: bytes) -> BulkResult:
    """Bind every row of the CSV to the person it names, or nothing (with the problems)."""
    connector = services.upstreams.get(provider)
    if connector is None:
        raise NotFound(f"no upstream provider {provider!r} is configured")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the file is not UTF-8 text") from None
    rows, problems = _rows(text)
    planned: list[tuple[UpstreamAccount, Person]] = []
    seen: dict[str, int] = {}
    for line, number, external_id in rows:
        if external_id in seen:
            problems.append(BulkProblem(line, f"upstream id also on line {seen[external_id]}"))
            continue
        seen[external_id] = line
        person = await _by_number(services, number)
        if person is None:
            problems.append(BulkProblem(line, f"no one (or more than one) has number {number!r}"))
            continue
        existing = await services.upstreams.bindings.find(connector.issuer, external_id)
        if existing is not None and existing.subject != person.subject:
            problems.append(BulkProblem(line, f"{external_id!r} is bound to {existing.username!r}"))
            continue
        planned.append((UpstreamAccount(provider=provider, issuer=connector.issuer,
                                        external_id=external_id), person))
    result = BulkResult(problems=sorted(problems, key=lambda problem: problem.line))
    if problems:
        return result

    async def bind_all() -> BulkResult:
        for account, person in planned:
            before = await services.upstreams.bindings.find(account.issuer, account.external_id)
            try:
                await services.upstreams.bindings.bind(account, subject=person.subject,
                                                       username=person.username,
                                                       bound_by=actor.username)
            except AlreadyBound:  # bound to someone else since the check: reported, not lost
                result.problems.append(BulkProblem(0, f"{account.external_id!r} was bound "
                                                      "meanwhile"))
                continue
            if before is None:
                result.bound += 1
            else:
                result.unchanged += 1
        return result

    return await audited(services, actor, "bind_upstream_bulk", bind_all(), provider=provider,
                         rows=len(planned))
