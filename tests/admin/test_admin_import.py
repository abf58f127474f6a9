"""The September intake: 5,000 rows on the local directory and on slapd. Bad rows are all
reported with their line numbers and nothing is written; the fixed file creates 5,000 people;
running it again changes nothing; a failure injected mid-way (a group deleted while the import
runs) stops it with no half-created account."""

from __future__ import annotations

import time
from typing import Any

import ldap
from passlib.hash import ldap_salted_sha1
from sqlalchemy import delete

from directory.local import LocalDirectory
from directory.local_schema import DirGroup
from idp.admin.service_common import Actor
from idp.admin.service_import import ImportResult, ImportTarget, check_file, run_import
from tests.admin.support import AdminBackend, unique_username

ROWS = 5000
PASSWORD = "Intake-2025!"
HASH = ldap_salted_sha1.hash(PASSWORD)  # {SSHA}: what an old system exports
HEADER = "username,name,family_name,given_name,email,number,department,affiliation,groups,password_hash"
ACTOR = Actor(username="itadmin", via="test")


def intake(stem: str, count: int = ROWS, *, groups: str = "students",
           department: str = "计算机学院") -> list[str]:
    lines = [HEADER]
    for n in range(count):
        username = f"{stem}{n:05d}"
        lines.append(f"{username},学生{n},学,生{n},{username}@example.edu,2025{n:06d},"
                     f"{department},student;member,{groups},{HASH}")
    return lines


def encoded(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


async def existing(backend: AdminBackend, usernames: list[str]) -> set[str]:
    found = set()
    for username in usernames:
        if await backend.person(username) is not None:
            found.add(username)
    return found


async def create_group(backend: AdminBackend, name: str) -> None:
    directory = backend.services.directory
    if isinstance(directory, LocalDirectory):
        await directory.create_group(name)
        return
    assert backend.slapd is not None
    server = backend.slapd.server
    conn = ldap.initialize(server.ldap_uri)
    conn.simple_bind_s(server.root_dn, server.root_pw)
    conn.add_s(f"cn={name},ou=groups,dc=example,dc=edu", [
        ("objectClass", [b"groupOfNames"]), ("cn", [name.encode()]),
        ("member", [f"uid=itadmin,ou=people,{server.suffix}".encode()])])
    conn.unbind_s()


async def delete_group(backend: AdminBackend, name: str) -> None:
    """Another admin deletes the group while the import runs: the injected failure."""
    directory = backend.services.directory
    if isinstance(directory, LocalDirectory):
        async with directory._sessions() as session:
            await session.execute(delete(DirGroup).where(DirGroup.name == name))
            await session.commit()
        return
    assert backend.slapd is not None
    server = backend.slapd.server
    conn = ldap.initialize(server.ldap_uri)
    conn.simple_bind_s(server.root_dn, server.root_pw)
    conn.delete_s(f"cn={name},ou=groups,dc=example,dc=edu")
    conn.unbind_s()


async def test_five_thousand_rows(backend: AdminBackend) -> None:
    target = ImportTarget.of(backend.services)
    stem = unique_username("s")
    lines = intake(stem)
    usernames = [line.split(",")[0] for line in lines[1:]]
    # bad rows, at known lines (line 1 is the header, row n is on line n + 1)
    bad = list(lines)
    bad[101] = bad[101].replace("@example.edu", "-at-example.edu")
    bad[2002] = bad[1000]  # a duplicate username
    bad[4000] = bad[4000].replace(",students,", ",students;no-such-group,")
    bad[4500] = bad[4500].replace("student;member", "wizard")
    bad[4999] = bad[4999] + ",extra"
    plan = await check_file(target, encoded(bad))
    assert not plan.valid and plan.rows == []
    reported = {(e.line, e.column) for e in plan.errors}
    assert reported == {(102, "email"), (2003, "username"), (4001, "groups"),
                        (4501, "affiliation"), (5000, None)}, plan.errors
    assert "already on line 1001" in next(str(e) for e in plan.errors if e.line == 2003)
    assert await existing(backend, usernames[:50] + usernames[-50:]) == set()  # nothing written

    plan = await check_file(target, encoded(lines))
    assert plan.valid and len(plan.rows) == ROWS
    seen: list[int] = []

    async def progress(result: ImportResult) -> None:
        seen.append(result.done)

    started = time.monotonic()
    result = await run_import(target, plan, ACTOR, progress=progress, filename="intake.csv")
    elapsed = time.monotonic() - started
    assert result.failure is None, result.failure
    assert (len(result.created), len(result.updated), result.unchanged) == (ROWS, 0, 0)
    assert result.passwords == {}  # every row carried a hash
    assert seen[-1] == ROWS and seen == sorted(seen)
    print(f"{backend.kind}: {ROWS} rows imported in {elapsed:.1f} s")
    listed = [p for offset in range(0, ROWS + 1, 1000)
              for p in await target.writer.search(stem, offset, 1000)]
    assert sorted(p.username for p in listed) == usernames
    person = await backend.person(usernames[4321])
    assert person is not None and person.groups == ("students",) and person.number == "2025004321"
    assert await backend.bind(usernames[4321], PASSWORD)

    again = await run_import(target, await check_file(target, encoded(lines)), ACTOR)
    assert (len(again.created), len(again.updated), again.unchanged) == (0, 0, ROWS)

    moved = intake(stem, department="物理学院")
    changed = lines[:10] + moved[10:11] + lines[11:]
    third = await run_import(target, await check_file(target, encoded(changed)), ACTOR)
    assert (len(third.created), third.updated, third.unchanged) == (0, [usernames[9]], ROWS - 1)
    assert (await backend.person(usernames[9])).department == "物理学院"  # type: ignore[union-attr]


async def test_a_failure_mid_way_leaves_no_half_created_account(backend: AdminBackend) -> None:
    target = ImportTarget.of(backend.services)
    group = unique_username("doomed")
    await create_group(backend, group)
    stem = unique_username("f")
    lines = intake(stem, 300, groups=f"students;{group}")
    usernames = [line.split(",")[0] for line in lines[1:]]
    plan = await check_file(target, encoded(lines))
    assert plan.valid

    deleted: list[int] = []

    async def progress(result: ImportResult) -> None:
        if result.done >= 100 and not deleted:
            deleted.append(result.done)
            await delete_group(backend, group)

    result = await run_import(target, plan, ACTOR, progress=progress)
    assert result.failure is not None
    failed = usernames[result.failure.line - 2]
    # "no group …", or slapd's own words when the deletion races a write already under way
    assert failed in str(result.failure)
    present = await existing(backend, usernames)
    assert failed not in present
    assert present == set(result.created)  # exactly the rows reported as created, no more
    assert 100 <= len(present) < 300
    for username in list(present)[:20]:
        person: Any = await backend.person(username)
        assert "students" in person.groups  # each one complete
    # fixing the file (without the deleted group) and running it again finishes the job
    fixed = intake(stem, 300)
    rerun = await run_import(target, await check_file(target, encoded(fixed)), ACTOR)
    assert rerun.failure is None
    assert len(rerun.created) == 300 - len(present) and rerun.unchanged == len(present)
    assert await existing(backend, usernames) == set(usernames)
