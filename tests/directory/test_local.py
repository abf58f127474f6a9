"""What only the local directory does: its write API, LDAP-style hash import, the loop."""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from passlib.hash import ldap_salted_sha1, ldap_sha512_crypt
from sqlalchemy import select

from directory.base import (
    AccountDisabled,
    AccountLocked,
    AlreadyExists,
    InvalidCredentials,
    NoSuchEntry,
)
from directory.config import LdapConfig
from directory.demo_people import DEMO_PEOPLE, seed_local
from directory.factory import open_directory, open_writer
from directory.ldap import LdapDirectory
from directory.ldap_admin import LdapAdminWriter
from directory.local import PASSWORDS, LocalDirectory
from directory.local_schema import DirPerson


@pytest.fixture(params=["sqlite_local", "postgres_local"])
def local(request: pytest.FixtureRequest) -> LocalDirectory:
    return request.getfixturevalue(request.param)


async def _stored_hash(local: LocalDirectory, username: str) -> str:
    async with local._sessions() as session:
        row = await session.scalar(select(DirPerson).where(DirPerson.username == username))
        assert row is not None and row.password_hash
        return row.password_hash


async def test_unknown_user_costs_what_a_wrong_password_costs(local: LocalDirectory) -> None:
    async def timed(username: str) -> float:
        started = time.perf_counter()
        with pytest.raises(InvalidCredentials):
            await local.authenticate(username, "not-the-password")
        return time.perf_counter() - started

    wrong = statistics.median([await timed("teacher") for _ in range(3)])
    unknown = statistics.median([await timed("no-such-teacher") for _ in range(3)])
    # both pay for one argon2 verification: the same order of cost, not a free "no such user"
    assert unknown > wrong * 0.4, (unknown, wrong)


@pytest.mark.parametrize(
    ("username", "stored"),
    [
        ("imported-ssha", ldap_salted_sha1.hash("old-secret-1")),
        ("imported-crypt", ldap_sha512_crypt.using(rounds=5000).hash("old-secret-1")),
    ],
)
async def test_ldap_hashes_verify_and_are_rehashed_to_argon2(
    local: LocalDirectory, username: str, stored: str
) -> None:
    await local.create_person(username, password_hash=stored, name="Imported")
    assert (await _stored_hash(local, username)).startswith(("{SSHA}", "{CRYPT}"))
    with pytest.raises(InvalidCredentials):
        await local.authenticate(username, "old-secret-2")
    person = await local.authenticate(username, "old-secret-1")
    assert person.username == username
    assert (await _stored_hash(local, username)).startswith("$argon2")
    assert (await local.authenticate(username, "old-secret-1")).subject == person.subject


async def test_plaintext_or_unknown_hashes_are_refused(local: LocalDirectory) -> None:
    for bad in ("secret", "{CLEARTEXT}secret", "{MD4}abcd"):
        with pytest.raises(ValueError):
            await local.create_person("bad-hash", password_hash=bad)
    assert await local.find("bad-hash") is None


async def test_disabled_account(local: LocalDirectory) -> None:
    with pytest.raises(AccountDisabled):
        await local.authenticate("disabled", "disabled-pass-1")
    # the state is only told to someone with the right password
    with pytest.raises(InvalidCredentials):
        await local.authenticate("disabled", "wrong")


async def test_lock_unlock_and_lock_that_ran_out(local: LocalDirectory) -> None:
    await local.create_person("locktest", password="lock-test-1")
    await local.lock("locktest")
    with pytest.raises(AccountLocked):
        await local.authenticate("locktest", "lock-test-1")
    with pytest.raises(InvalidCredentials):
        await local.authenticate("locktest", "wrong")
    await local.unlock("locktest")
    assert (await local.authenticate("locktest", "lock-test-1")).username == "locktest"
    await local.lock("locktest", until=datetime.now(UTC) - timedelta(minutes=1))
    assert (await local.authenticate("locktest", "lock-test-1")).username == "locktest"


async def test_set_password_clears_expiry_and_can_force_change(local: LocalDirectory) -> None:
    await local.create_person("pwtest", password="pw-test-1")
    await local.expire_password("pwtest")
    await local.set_password("pwtest", "pw-test-2")
    with pytest.raises(InvalidCredentials):
        await local.authenticate("pwtest", "pw-test-1")
    assert (await local.authenticate("pwtest", "pw-test-2")).username == "pwtest"
    with pytest.raises(ValueError):
        await local.set_password("pwtest", "")


async def test_write_api(local: LocalDirectory) -> None:
    created = await local.create_person(
        "Wangfang", password="wf-pass-1", name="王芳", affiliations=["student"]
    )
    assert created.username == "Wangfang"
    assert len(created.subject) == 36
    with pytest.raises(AlreadyExists):
        await local.create_person("wangfang", password="x")
    with pytest.raises(ValueError):
        await local.create_person("nul\x00name", password="x")
    with pytest.raises(ValueError):
        await local.create_person("x-unknown-field", password="x", shoe_size=42)
    updated = await local.update_person("WANGFANG", department="外国语学院", number="2024")
    assert updated.department == "外国语学院" and updated.name == "王芳"
    await local.create_group("choir", description="campus choir")
    with pytest.raises(AlreadyExists):
        await local.create_group("choir")
    await local.add_member("choir", "wangfang")
    await local.add_member("choir", "wangfang")  # twice is fine
    assert (await local.find("wangfang")).groups == ("choir",)  # type: ignore[union-attr]
    await local.remove_member("choir", "wangfang")
    assert (await local.find("wangfang")).groups == ()  # type: ignore[union-attr]
    with pytest.raises(NoSuchEntry):
        await local.add_member("no-such-group", "wangfang")
    with pytest.raises(NoSuchEntry):
        await local.set_disabled("no-such-person")


async def test_search(local: LocalDirectory) -> None:
    by_name = await local.search("张")
    assert [person.username for person in by_name] == ["student"]
    by_number = await local.search("2023010001")
    assert [person.username for person in by_number] == ["student"]
    assert await local.search("%") == []  # LIKE wildcards are literal
    page = await local.search("", offset=0, limit=2)
    assert len(page) == 2
    rest = await local.search("", offset=2, limit=1000)
    assert {p.username for p in page}.isdisjoint({p.username for p in rest})


async def test_seed_is_idempotent(local: LocalDirectory) -> None:
    before = await local.search("", limit=1000)
    await seed_local(local)
    after = await local.search("", limit=1000)
    assert len(before) == len(after)
    student = await local.find("student")
    assert student is not None and student.groups == ("students",)
    assert {p.username for p in after} >= {demo.username for demo in DEMO_PEOPLE}


async def test_hashing_never_blocks_the_event_loop(local: LocalDirectory,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hash and verification runs on the directory's own threads, never on the loop's:
    asserted by where each call ran (a wall-clock stall of the loop would also show it, but the
    operating system's scheduling on busy shared CPUs shows up there too)."""
    loop_thread = threading.current_thread()
    ran_on: list[threading.Thread] = []
    for name in ("verify", "verify_and_update", "hash"):
        original = getattr(PASSWORDS, name)

        def spy(*args: object, _original=original, **kwargs: object) -> object:  # noqa: ANN001
            ran_on.append(threading.current_thread())
            return _original(*args, **kwargs)

        monkeypatch.setattr(PASSWORDS, name, spy)
    await local.authenticate("teacher", "teacher123")
    with pytest.raises(InvalidCredentials):
        await local.authenticate("teacher", "not-the-password")
    with pytest.raises(InvalidCredentials):
        await local.authenticate(f"nobody-{secrets.token_hex(4)}", "x-password")
    assert len(ran_on) >= 3
    assert loop_thread not in ran_on
    assert all(thread.name.startswith("passwords") for thread in ran_on), ran_on


async def test_factory_opens_the_kind_asked_for(sqlite_local: LocalDirectory) -> None:
    local = open_directory("local", LdapConfig(), sqlite_local.engine)
    assert isinstance(local, LocalDirectory)
    assert open_writer(local) is local  # the local directory writes itself
    assert (await local.authenticate("student", "student123")).username == "student"
    await local.close()
    config = LdapConfig(url="ldap://127.0.0.1:1", user_base="ou=people,dc=example,dc=edu")
    remote = open_directory("ldap", config, sqlite_local.engine)
    assert isinstance(remote, LdapDirectory)
    assert remote.settings is config
    writer = open_writer(remote)
    assert isinstance(writer, LdapAdminWriter) and writer.directory is remote
    await writer.close()
    await remote.close()
    with pytest.raises(ValueError, match="unknown directory kind 'nis'"):
        open_directory("nis", config, sqlite_local.engine)  # type: ignore[arg-type]
