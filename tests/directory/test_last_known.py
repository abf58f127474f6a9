"""LastKnownDirectory (directory/last_known.py) on a real slapd behind a CutProxy, keeping its
copies in a real SQLite database and in a real PostgreSQL one. Its clock is an argument, so the
staleness and offline-window limits are shown by moving that clock, not by waiting a day;
everything else is real: slapd refuses connections while cut, and answers again, with no
restart, once restored."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from directory.base import AccountLocked, DirectoryUnavailable, InvalidCredentials
from directory.last_known import DAY, LastKnownConfig, LastKnownDirectory
from directory.last_known_schema import DirLastKnown
from directory.ldap import LdapDirectory
from directory.ldap_admin import LdapAdminWriter
from directory.local_schema import DirectoryBase
from idp.db.engine import close_engine, open_engine
from idp.db.pg_direct import pg_direct
from tests.directory.conftest import SPECIAL_PASSWORDS, _start
from tests.support.cut import CutProxy
from tests.support.databases import postgres_database
from tests.support.slapd import Campus, ldap_settings

HOUR = 3600.0


class Clock:
    """time.time, plus however far the test has moved it."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


@pytest.fixture(scope="module")
def slapd() -> Iterator[Campus]:
    running = _start(True)
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def proxy(slapd: Campus) -> Iterator[CutProxy]:
    uri = urlsplit(slapd.server.ldap_uri)
    assert uri.hostname and uri.port
    started = CutProxy(uri.hostname, uri.port, name="slapd").start()
    yield started
    started.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with AsyncExitStack() as stack:
        url = (f"sqlite:///{tmp_path}/last-known.db" if request.param == "sqlite"
               else await stack.enter_async_context(postgres_database()))
        opened = open_engine(url)
        async with opened.begin() as conn:
            await conn.run_sync(DirectoryBase.metadata.create_all)
        yield opened
        await close_engine(opened)  # its direct connections (PostgreSQL) too


@pytest.fixture
async def ldap(slapd: Campus, proxy: CutProxy) -> AsyncIterator[LdapDirectory]:
    proxy.restore()
    server = slapd.server
    directory = LdapDirectory(ldap_settings(
        server, url=f"ldap://127.0.0.1:{proxy.port}", person_cache_seconds=0,
        admin_bind_dn=server.root_dn, admin_bind_password=server.root_pw))
    yield directory
    await directory.close()


_made: list[LastKnownDirectory] = []


@pytest.fixture(autouse=True)
def _hashing_pools() -> Iterator[None]:
    yield
    while _made:  # the LdapDirectory under each is the `ldap` fixture's to close
        _made.pop()._hashing.shutdown(wait=False)


def wrap(ldap: LdapDirectory, engine: AsyncEngine, clock: Clock, *, offline: bool = True,
         staleness: float = 24 * HOUR) -> LastKnownDirectory:
    config = LastKnownConfig(max_staleness=staleness, offline_login=offline,
                             offline_login_days=7, never_offline_groups=frozenset({"idp-admins"}))
    # on PostgreSQL the copy is written as the IdP writes it, straight through asyncpg
    direct = pg_direct(engine)
    made = LastKnownDirectory(ldap, engine, config, clock=clock,
                              upsert=direct.upsert_last_known if direct is not None else None)
    _made.append(made)
    return made


async def test_by_subject_serves_the_copy_while_cut_and_the_directory_again_after(
    ldap: LdapDirectory, engine: AsyncEngine, proxy: CutProxy,
) -> None:
    clock = Clock()
    directory = wrap(ldap, engine, clock, offline=False)
    live = await directory.authenticate("student", "student123")
    assert live.as_of is None
    with proxy.down():
        kept = await directory.by_subject(live.subject)
        assert kept == live  # every field, groups included: the same claims as before
        assert kept is not None and kept.as_of is not None and kept.as_of <= clock()
        clock.ahead = 24 * HOUR - 60
        assert await directory.by_subject(live.subject) == live  # within the staleness
        clock.ahead = 24 * HOUR + 60
        with pytest.raises(DirectoryUnavailable):  # too old to vouch for
            await directory.by_subject(live.subject)
        with pytest.raises(DirectoryUnavailable):  # never seen: nothing to serve
            await directory.by_subject("00000000-0000-0000-0000-000000000000")
    clock.ahead = 0
    back = await directory.by_subject(live.subject)  # no restart: the directory again
    assert back == live and back is not None and back.as_of is None


async def test_no_offline_login_unless_opted_in(
    ldap: LdapDirectory, engine: AsyncEngine, proxy: CutProxy,
) -> None:
    directory = wrap(ldap, engine, Clock(), offline=False)
    await directory.authenticate("teacher", "teacher123")
    async with directory._db() as db:
        row = await db.get(DirLastKnown, (await ldap.locate("teacher")).key)  # type: ignore[union-attr]
    assert row is not None and row.password_hash is None  # no hash is even kept
    with proxy.down(), pytest.raises(DirectoryUnavailable):
        await directory.authenticate("teacher", "teacher123")


async def test_offline_login_checks_the_last_password_the_directory_accepted(
    ldap: LdapDirectory, engine: AsyncEngine, proxy: CutProxy,
) -> None:
    clock = Clock()
    directory = wrap(ldap, engine, clock)
    live = await directory.authenticate("teacher", "teacher123")
    online = await directory.locate("teacher")
    async with directory._db() as db:
        row = await db.get(DirLastKnown, live.subject)
    assert row is not None and row.password_hash is not None
    assert row.password_hash.startswith("$argon2id$") and "teacher123" not in row.password_hash
    with proxy.down():
        offline = await directory.authenticate("Teacher", "teacher123")
        assert offline == live and offline.as_of is not None
        with pytest.raises(InvalidCredentials):
            await directory.authenticate("teacher", "teacher124")
        # the throttle's view of the name during the outage: the same entry as online
        assert online is not None and await directory.locate("\uff34\uff25\uff21CHER") == online
        clock.ahead = 24 * HOUR + 60  # the hash is within its days, the copy past 24 h
        with pytest.raises(DirectoryUnavailable):
            await directory.authenticate("teacher", "teacher123")


async def test_the_password_hash_is_kept_only_its_days(
    ldap: LdapDirectory, engine: AsyncEngine, proxy: CutProxy,
) -> None:
    clock = Clock()
    directory = wrap(ldap, engine, clock, staleness=30 * DAY)
    await directory.authenticate("teacher", "teacher123")
    with proxy.down():
        clock.ahead = 7 * DAY - 60
        assert (await directory.authenticate("teacher", "teacher123")).username == "teacher"
        clock.ahead = 7 * DAY + 60
        with pytest.raises(DirectoryUnavailable):
            await directory.authenticate("teacher", "teacher123")


async def test_never_offline_for_admins_or_people_the_directory_refused(
    ldap: LdapDirectory, engine: AsyncEngine, proxy: CutProxy, slapd: Campus,
) -> None:
    directory = wrap(ldap, engine, Clock())
    admin = await directory.authenticate("itadmin", "itadmin123")
    assert "idp-admins" in admin.groups
    await directory.authenticate("lockme", SPECIAL_PASSWORDS["lockme"])
    # ppolicy locks lockme for good (an admin's lock): the directory refuses the right password
    slapd.server.ldapmodify(f"dn: uid=lockme,ou=people,{slapd.server.suffix}\n"
                            "changetype: modify\nreplace: pwdAccountLockedTime\n"
                            "pwdAccountLockedTime: 000001010000Z\n")
    try:
        with pytest.raises(AccountLocked):
            await directory.authenticate("lockme", SPECIAL_PASSWORDS["lockme"])
    finally:  # the module's slapd serves the next test (and the other database's run) too
        slapd.server.ldapmodify(f"dn: uid=lockme,ou=people,{slapd.server.suffix}\n"
                                "changetype: modify\ndelete: pwdAccountLockedTime\n")
    async with directory._db() as db:
        hashes = dict((await db.execute(select(DirLastKnown.username_key,
                                               DirLastKnown.password_hash))).all())
    assert hashes["itadmin"] is None and hashes["lockme"] is None
    with proxy.down():
        for username, password in (("itadmin", "itadmin123"),
                                   ("lockme", SPECIAL_PASSWORDS["lockme"])):
            with pytest.raises(DirectoryUnavailable):
                await directory.authenticate(username, password)


async def test_a_change_by_an_admin_here_is_not_bridged_by_an_older_copy(
    ldap: LdapDirectory, engine: AsyncEngine, proxy: CutProxy,
) -> None:
    """The admin console disables a person, then the directory goes away before the person's
    next request: the copy made before the change must not be served."""
    directory = wrap(ldap, engine, Clock())
    person = await directory.authenticate("liuyang", SPECIAL_PASSWORDS["liuyang"])
    writer = LdapAdminWriter(ldap)
    try:
        await writer.update_person("liuyang", title="changed by an admin")
    finally:
        await writer.close()
    with proxy.down():
        with pytest.raises(DirectoryUnavailable):
            await directory.by_subject(person.subject)
        with pytest.raises(DirectoryUnavailable):
            await directory.authenticate("liuyang", SPECIAL_PASSWORDS["liuyang"])
    confirmed = await directory.by_subject(person.subject)  # the directory again: a new copy
    assert confirmed is not None and confirmed.title == "changed by an admin"
    with proxy.down():
        assert await directory.by_subject(person.subject) == confirmed


async def test_linked_identities_while_cut_are_the_entry_signed_in_with(
    slapd: Campus, proxy: CutProxy, engine: AsyncEngine,
) -> None:
    from tests.directory.conftest import LINKS

    proxy.restore()
    linked = LdapDirectory(ldap_settings(slapd.server, url=f"ldap://127.0.0.1:{proxy.port}",
                                         person_cache_seconds=0), links=LINKS)
    try:
        directory = wrap(linked, engine, Clock())
        ta = await directory.authenticate("linkta", SPECIAL_PASSWORDS["linkta"])
        assert len(await directory.identities(ta)) == 3  # the directory answers: every one
        with proxy.down():
            # the links cannot be read: the sign-in goes on, with its own entry alone
            assert await directory.identities(ta) == (ta,)
    finally:
        await linked.close()


async def test_the_copy_is_rewritten_when_the_person_changed_and_only_then(
    slapd: Campus, ldap: LdapDirectory, engine: AsyncEngine,
) -> None:
    """Every read of a person passes through the copy: an unchanged person is not written again
    within the refresh interval, one changed in the directory (not through this IdP, so nothing
    told it) is written at its next read. On PostgreSQL through the direct upsert."""
    directory = wrap(ldap, engine, Clock(), offline=False)
    person = await directory.authenticate("student", "student123")
    assert person.dn is not None

    async def kept() -> tuple[dict[str, object], object]:
        async with directory._db() as db:
            row = (await db.execute(select(DirLastKnown).where(
                DirLastKnown.subject == person.subject))).scalar_one()
            return row.person, row.seen_at

    first, seen = await kept()
    assert await directory.by_subject(person.subject) == person
    assert await kept() == (first, seen)  # unchanged: not written again
    title = person.title or ""
    slapd.server.ldapmodify(f"dn: {person.dn}\nchangetype: modify\nreplace: title\n"
                            "title: changed in the directory\n")
    try:
        changed = await directory.by_subject(person.subject)
        assert changed is not None and changed.title == "changed in the directory"
        data, seen_after = await kept()
        assert data["title"] == "changed in the directory" and seen_after != seen
    finally:
        restore = f"replace: title\ntitle: {title}\n" if title else "delete: title\n"
        slapd.server.ldapmodify(f"dn: {person.dn}\nchangetype: modify\n{restore}")


async def test_a_database_that_cannot_take_the_copy_does_not_fail_the_login(
    ldap: LdapDirectory, caplog: pytest.LogCaptureFixture,
) -> None:
    """The copy is a fallback: PostgreSQL refusing its write (here cut off behind a proxy) is
    logged, and the login the directory accepted goes on."""
    async with postgres_database() as url:
        where = urlsplit(url)
        assert where.hostname and where.port
        cut = CutProxy(where.hostname, where.port, name="postgres").start()
        try:
            proxied = open_engine(url.replace(f"{where.hostname}:{where.port}",
                                              f"127.0.0.1:{cut.port}"))
            async with proxied.begin() as conn:
                await conn.run_sync(DirectoryBase.metadata.create_all)
            directory = wrap(ldap, proxied, Clock(), offline=False)
            with cut.down(), caplog.at_level(logging.WARNING):
                person = await directory.authenticate("student", "student123")
            assert person.username == "student"
            assert "could not keep the last-known person" in caplog.text
            await close_engine(proxied)
        finally:
            cut.close()
