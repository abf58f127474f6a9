"""The LDAP directory's short-lived person cache (IDP_LDAP_PERSON_CACHE_SECONDS), against a real
slapd. LDAP traffic is counted with the directory observer hook: the service pool calls it once
for every operation it really sends to slapd."""

from __future__ import annotations

import asyncio
import secrets
import threading
from concurrent.futures import Future
from dataclasses import FrozenInstanceError

import pytest

from directory.base import (
    AccountLocked,
    DirectoryError,
    DirectoryUnavailable,
    InvalidCredentials,
    Person,
)
from directory.ldap import LdapDirectory
from directory.ldap_admin import LdapAdminWriter
from directory.person_cache import PersonCache
from idp.settings import SettingsError, load_settings
from tests.support.slapd import SUFFIX, Campus, CampusSlapd, ldap_settings

PEOPLE = f"ou=people,{SUFFIX}"
PASSWORD = "Cache-pass-1"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


class Searches:
    """A directory observer that counts the searches slapd was really asked (from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, server: str, operation: str, seconds: float, error: str | None) -> None:
        if operation == "search":
            with self._lock:
                self.count += 1


def _add_person(server: CampusSlapd, name: str = "Cached Person") -> str:
    """A person of this test's own: the session slapd is shared with other tests."""
    uid = f"cache{secrets.token_hex(4)}"
    server.ldapadd(
        f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: eduPerson\n"
        f"uid: {uid}\ncn: {name}\nsn: {name.split()[-1]}\nuserPassword: {PASSWORD}\n")
    return uid


def _modify(server: CampusSlapd, uid: str, *changes: str) -> None:
    """Change the entry as the directory manager: behind the IdP's back."""
    server.ldapmodify(f"dn: uid={uid},{PEOPLE}\nchangetype: modify\n" + "\n-\n".join(changes) + "\n")


async def _subject(directory: LdapDirectory, uid: str) -> str:
    person = await directory.find(uid)  # find is never cached
    assert person is not None
    return person.subject


async def test_a_second_lookup_within_the_ttl_does_not_reach_slapd(campus: Campus) -> None:
    searches = Searches()
    directory = LdapDirectory(ldap_settings(campus.server, person_cache_seconds=60), searches)
    try:
        subject = await _subject(directory, _add_person(campus.server))
        before = searches.count
        first = await directory.by_subject(subject)
        asked = searches.count
        assert first is not None and first.subject == subject
        assert asked > before  # the first lookup asked slapd
        for _ in range(5):
            assert await directory.by_subject(subject) is first
        assert searches.count == asked
        # the shared copy cannot be changed by one caller under another's feet
        with pytest.raises(FrozenInstanceError):
            first.disabled = True  # type: ignore[misc]
    finally:
        await directory.close()


async def test_a_change_behind_the_idps_back_shows_after_the_ttl(campus: Campus) -> None:
    ttl = 0.5
    directory = LdapDirectory(ldap_settings(campus.server, person_cache_seconds=ttl))
    try:
        uid = _add_person(campus.server, "Before Name")
        subject = await _subject(directory, uid)
        first = await directory.by_subject(subject)
        assert first is not None and first.name == "Before Name" and not first.disabled
        _modify(campus.server, uid, "replace: cn\ncn: After Name",
                "replace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z")
        # within the TTL the kept copy answers: the trade-off the setting documents
        assert await directory.by_subject(subject) is first
        await asyncio.sleep(ttl + 0.2)
        fresh = await directory.by_subject(subject)
        assert fresh is not None and fresh.name == "After Name" and fresh.disabled
    finally:
        await directory.close()


async def test_the_password_check_is_never_cached(campus: Campus) -> None:
    searches = Searches()
    directory = LdapDirectory(ldap_settings(campus.server, person_cache_seconds=60), searches)
    try:
        uid = _add_person(campus.server)
        person = await directory.authenticate(uid, PASSWORD)
        assert await directory.by_subject(person.subject) is not None  # now kept
        _modify(campus.server, uid, "replace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z")
        before = searches.count
        with pytest.raises(AccountLocked):
            await directory.authenticate(uid, PASSWORD)
        assert searches.count > before
        _modify(campus.server, uid, "delete: pwdAccountLockedTime",
                f"replace: userPassword\nuserPassword: Other-{PASSWORD}")
        with pytest.raises(InvalidCredentials):
            await directory.authenticate(uid, PASSWORD)
    finally:
        await directory.close()


async def test_changes_through_the_writer_show_at_once(campus: Campus) -> None:
    server = campus.server
    searches = Searches()
    settings = ldap_settings(server, person_cache_seconds=600, admin_bind_dn=server.root_dn,
                             admin_bind_password=server.root_pw)
    directory = LdapDirectory(settings, searches)
    writer = LdapAdminWriter(directory)
    uid = _add_person(server)
    subject = await _subject(directory, uid)

    async def lookup() -> Person:
        person = await directory.by_subject(subject)
        assert person is not None
        return person

    async def asks_slapd_again() -> Person:
        await lookup()  # keep it, whatever the last step did
        before = searches.count
        person = await lookup()
        assert searches.count == before, "the copy was not kept"
        return person

    try:
        assert not (await asks_slapd_again()).disabled
        await writer.set_disabled(uid)
        before = searches.count
        assert (await lookup()).disabled  # refused on the very next request
        assert searches.count > before
        await asks_slapd_again()
        await writer.set_disabled(uid, False)
        assert not (await lookup()).disabled
        await writer.update_person(uid, title="Dean of Caching")
        assert (await lookup()).title == "Dean of Caching"
        await writer.add_member("staff", uid)
        assert "staff" in (await lookup()).groups
        await writer.remove_member("staff", uid)
        assert "staff" not in (await lookup()).groups
        # changes the Person does not show still drop the copy: the next lookup asks slapd
        for change in (writer.set_password(uid, f"New-{PASSWORD}"), writer.unlock(uid),
                       writer.require_password_change(uid)):
            await asks_slapd_again()
            await change
            before = searches.count
            await lookup()
            assert searches.count > before
        await asks_slapd_again()
        await writer.delete_person(uid)
        assert await directory.by_subject(subject) is None
    finally:
        await writer.close()
        await directory.close()


async def test_a_failed_write_still_drops_the_copy(campus: Campus) -> None:
    server = campus.server
    searches = Searches()
    settings = ldap_settings(server, person_cache_seconds=600, admin_bind_dn=server.root_dn,
                             admin_bind_password=server.root_pw)
    directory = LdapDirectory(settings, searches)
    writer = LdapAdminWriter(directory)
    try:
        uid = _add_person(server)
        subject = await _subject(directory, uid)
        assert await directory.by_subject(subject) is not None
        with pytest.raises(DirectoryError):
            await writer.add_member("no-such-group", uid)
        before = searches.count
        assert await directory.by_subject(subject) is not None
        assert searches.count > before
    finally:
        await writer.close()
        await directory.close()


async def test_unknown_subjects_are_asked_every_time(campus: Campus) -> None:
    searches = Searches()
    directory = LdapDirectory(ldap_settings(campus.server, person_cache_seconds=60), searches)
    try:
        for _ in range(3):
            before = searches.count
            assert await directory.by_subject(UNKNOWN) is None
            assert searches.count > before
    finally:
        await directory.close()


async def test_directory_errors_are_not_cached(bare_campus: Campus) -> None:
    server = bare_campus.server
    directory = LdapDirectory(ldap_settings(server, person_cache_seconds=60))
    try:
        subject = await _subject(directory, "student")
        server.pause()
        with pytest.raises(DirectoryUnavailable):
            await directory.by_subject(subject)
        server.resume()
        person = await directory.by_subject(subject)
        assert person is not None and person.username == "student"
    finally:
        if not server.running:
            server.resume()
        await directory.close()


async def test_zero_seconds_turns_the_cache_off(campus: Campus) -> None:
    searches = Searches()
    directory = LdapDirectory(ldap_settings(campus.server, person_cache_seconds=0), searches)
    try:
        uid = _add_person(campus.server, "Before Name")
        subject = await _subject(directory, uid)
        for _ in range(3):
            before = searches.count
            assert await directory.by_subject(subject) is not None
            assert searches.count > before
        _modify(campus.server, uid, "replace: cn\ncn: After Name")
        person = await directory.by_subject(subject)
        assert person is not None and person.name == "After Name"
    finally:
        await directory.close()


async def test_concurrent_misses_share_one_search(campus: Campus) -> None:
    searches = Searches()
    directory = LdapDirectory(ldap_settings(campus.server, person_cache_seconds=60), searches)
    try:
        subject = await _subject(directory, _add_person(campus.server))
        before = searches.count
        found = await asyncio.gather(*(directory.by_subject(subject) for _ in range(16)))
        together = searches.count - before
        assert all(person is found[0] for person in found) and found[0] is not None
        directory.forget(subject)
        before = searches.count
        assert await directory.by_subject(subject) is not None
        alone = searches.count - before
        assert together == alone  # sixteen callers, the searches of one
    finally:
        await directory.close()


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().ldap.person_cache_seconds == 30
    monkeypatch.setenv("IDP_LDAP_PERSON_CACHE_SECONDS", "0")
    assert load_settings().ldap.person_cache_seconds == 0
    monkeypatch.setenv("IDP_LDAP_PERSON_CACHE_SECONDS", "-1")
    with pytest.raises(SettingsError, match="IDP_LDAP_PERSON_CACHE_SECONDS"):
        load_settings()


# --- the cache itself, with searches the test answers by hand --------------------------------


def _person(subject: str) -> Person:
    return Person(subject=subject, username=subject)


class HandSearches:
    """Searches that stay in flight until the test answers them."""

    def __init__(self) -> None:
        self.started: list[tuple[str, Future[Person | None]]] = []

    def __call__(self, subject: str) -> Future[Person | None]:
        flight: Future[Person | None] = Future()
        self.started.append((subject, flight))
        return flight


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_cache_forget_during_a_search_keeps_nothing() -> None:
    cache, searches = PersonCache(60), HandSearches()
    waiting = asyncio.ensure_future(cache.get("a", searches))
    await _settle()
    cache.forget("a")  # a write landed while the search was reading the old entry
    searches.started[0][1].set_result(_person("a"))
    assert (await waiting).subject == "a"  # who asked before the write gets the old answer
    assert len(cache) == 0
    second = asyncio.ensure_future(cache.get("a", searches))
    await _settle()
    assert len(searches.started) == 2  # the next caller reads afresh
    searches.started[1][1].set_result(_person("a"))
    await second
    assert len(cache) == 1


async def test_cache_keeps_at_most_its_bound_least_recently_used_first() -> None:
    cache, searches = PersonCache(60, max_entries=2), HandSearches()
    for subject in ("a", "b", "a", "c"):
        waiting = asyncio.ensure_future(cache.get(subject, searches))
        await _settle()
        if not waiting.done():
            searches.started[-1][1].set_result(_person(subject))
        await waiting
    assert [s for s, _ in searches.started] == ["a", "b", "c"]
    assert len(cache) == 2
    await cache.get("a", searches)  # kept: used more recently than b
    waiting = asyncio.ensure_future(cache.get("b", searches))
    await _settle()
    assert searches.started[-1][0] == "b"  # evicted, so asked again
    searches.started[-1][1].set_result(_person("b"))
    await waiting


async def test_cache_entries_expire() -> None:
    now = [1000.0]
    cache, searches = PersonCache(30, clock=lambda: now[0]), HandSearches()
    waiting = asyncio.ensure_future(cache.get("a", searches))
    await _settle()
    searches.started[0][1].set_result(_person("a"))
    await waiting
    now[0] += 29.9
    await cache.get("a", searches)
    assert len(searches.started) == 1
    now[0] += 0.2
    waiting = asyncio.ensure_future(cache.get("a", searches))
    await _settle()
    assert len(searches.started) == 2
    searches.started[1][1].set_result(_person("a"))
    await waiting


async def test_cache_one_caller_giving_up_does_not_cancel_the_others() -> None:
    cache, searches = PersonCache(60), HandSearches()
    impatient = asyncio.ensure_future(cache.get("a", searches))
    patient = asyncio.ensure_future(cache.get("a", searches))
    await _settle()
    impatient.cancel()
    await _settle()
    assert len(searches.started) == 1 and not searches.started[0][1].cancelled()
    searches.started[0][1].set_result(_person("a"))
    assert (await patient).subject == "a"
    assert impatient.cancelled()


async def test_cache_errors_reach_every_waiter_and_are_not_kept() -> None:
    cache, searches = PersonCache(60), HandSearches()
    waiting = [asyncio.ensure_future(cache.get("a", searches)) for _ in range(3)]
    await _settle()
    searches.started[0][1].set_exception(DirectoryUnavailable(detail="down"))
    for each in waiting:
        with pytest.raises(DirectoryUnavailable):
            await each
    assert len(cache) == 0 and len(searches.started) == 1
    again = asyncio.ensure_future(cache.get("a", searches))
    await _settle()
    assert len(searches.started) == 2
    searches.started[1][1].set_result(None)
    assert await again is None and len(cache) == 0
