"""A login searches for its person once: the throttle's `locate` finds the entry, and the same
request's `authenticate` binds to it (directory/ldap.py, LOCATED_FOR). Against a real slapd; the
searches are counted with the directory observer hook, which the service pool calls for every
operation it really sends. What must not happen: a located entry used by another request, for
another name, twice, after a change made through the IdP (an admin enabling the account), or
long after its search."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from directory import ldap as ldap_module
from directory.base import InvalidCredentials
from directory.ldap import LdapDirectory
from tests.directory.test_person_cache import PASSWORD, Searches, _add_person
from tests.support.slapd import Campus, ldap_settings


@pytest.fixture
def counted(campus: Campus) -> tuple[LdapDirectory, Searches]:
    searches = Searches()
    return LdapDirectory(ldap_settings(campus.server), searches), searches


async def _searches_for(searches: Searches, work: object) -> int:
    before = searches.count
    await work  # type: ignore[misc]
    return searches.count - before


async def test_a_login_after_locate_searches_for_the_person_once(
    counted: tuple[LdapDirectory, Searches], campus: Campus,
) -> None:
    directory, searches = counted
    uid = _add_person(campus.server)
    try:
        alone = await _searches_for(searches, directory.authenticate(uid, PASSWORD))
        located = await directory.locate(uid)
        assert located is not None and located.username == uid
        after_locate = await _searches_for(searches, directory.authenticate(uid, PASSWORD))
        # without a locate: the person's entry and their groups; after one: the groups only
        assert after_locate == alone - 1
        # used once: the next login of the same request searches again
        again = await _searches_for(searches, directory.authenticate(uid, PASSWORD))
        assert again == alone
        # a wrong password after a locate is still refused, and the entry is not kept for later
        await directory.locate(uid)
        with pytest.raises(InvalidCredentials):
            await directory.authenticate(uid, "not the password")
        assert await _searches_for(searches, directory.authenticate(uid, PASSWORD)) == alone
    finally:
        await directory.close()


async def test_a_located_entry_serves_only_its_name_its_request_and_its_moment(
    counted: tuple[LdapDirectory, Searches], campus: Campus, monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory, searches = counted
    first, second = _add_person(campus.server), _add_person(campus.server)
    try:
        alone = await _searches_for(searches, directory.authenticate(first, PASSWORD))
        # another name: its own search, and it signs in as itself
        await directory.locate(first)
        before = searches.count
        person = await directory.authenticate(second, PASSWORD)
        assert person.username == second and searches.count - before == alone
        # another request (another task, its own context) does not see this one's entry
        await directory.locate(first)
        other = asyncio.create_task(directory.authenticate(first, PASSWORD),
                                    context=contextvars.Context())
        before = searches.count
        assert (await other).username == first
        assert searches.count - before == alone
        # a change made through the IdP since (the admin writer calls forget): looked up afresh
        located = await directory.locate(first)
        assert located is not None
        directory.forget(located.key)
        assert await _searches_for(searches, directory.authenticate(first, PASSWORD)) == alone
        # too late: past LOCATED_FOR the entry is looked up afresh
        await directory.locate(first)
        monkeypatch.setattr(ldap_module, "LOCATED_FOR", 0.0)
        assert await _searches_for(searches, directory.authenticate(first, PASSWORD)) == alone
    finally:
        await directory.close()
