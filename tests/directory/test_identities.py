"""The Directory contract for linked identities (directory/base.py `identities`), on every
backend: the local directory on SQLite and PostgreSQL, LDAP on slapd. The people are the
conftest's LINKED ones: a student entry, a teaching-assistant entry whose seeAlso names it, an
alumni entry sharing its ORCID, and entries whose links must not count."""

from __future__ import annotations

import pytest

from directory.base import Directory, InvalidCredentials, Person
from tests.directory.conftest import SPECIAL_PASSWORDS


async def _login(directory: Directory, username: str) -> Person:
    return await directory.authenticate(username, SPECIAL_PASSWORDS[username])


def _names(identities: tuple[Person, ...]) -> list[str]:
    return [person.username for person in identities]


async def test_the_entry_signed_in_with_comes_first_then_its_linked_entries(
        directory: Directory) -> None:
    student = await _login(directory, "linkstudent")
    identities = await directory.identities(student)
    assert identities[0] is student
    # the TA entry links to the student (found backwards); the alumni entry shares the ORCID
    assert sorted(_names(identities)[1:]) == ["linkalum", "linkta"]


async def test_a_link_is_followed_forwards_and_on_from_the_entries_found(
        directory: Directory) -> None:
    ta = await _login(directory, "linkta")
    identities = await directory.identities(ta)
    assert _names(identities)[0] == "linkta"
    # seeAlso forwards to the student, then the student's ORCID to the alumni entry
    assert sorted(_names(identities)[1:]) == ["linkalum", "linkstudent"]
    alum = await _login(directory, "linkalum")
    assert sorted(_names(await directory.identities(alum))) == ["linkalum", "linkstudent",
                                                                 "linkta"]


async def test_each_identity_is_the_entry_as_the_directory_holds_it(
        directory: Directory) -> None:
    ta = await _login(directory, "linkta")
    by_name = {person.username: person for person in await directory.identities(ta)}
    student = by_name["linkstudent"]
    assert student.name == "Lin Student"
    assert student.affiliations == ("student",)
    assert student.number == "2024310001"
    assert student.department == "计算机学院"
    assert student.subject != ta.subject
    # the same entry as the directory gives for its subject (what tokens are refreshed with)
    assert await directory.by_subject(student.subject) == student


async def test_a_disabled_entry_is_no_identity(directory: Directory) -> None:
    student = await _login(directory, "linkstudent")
    assert "linkgone" not in _names(await directory.identities(student))


async def test_an_unlinked_person_has_one_identity(directory: Directory) -> None:
    person = await directory.authenticate("student", "student123")
    assert await directory.identities(person) == (person,)


async def test_a_link_outside_the_people_is_not_followed(directory: Directory) -> None:
    wide = await _login(directory, "linkwide")
    assert _names(await directory.identities(wide)) == ["linkwide"]


async def test_a_correlation_value_is_escaped_not_a_filter(directory: Directory) -> None:
    odd = await _login(directory, "linkodd")
    # `*)(uid=*` would match every entry with a uid if it reached the filter unescaped
    assert _names(await directory.identities(odd)) == ["linkodd"]


async def test_nobody_signs_in_with_the_other_entrys_password(directory: Directory) -> None:
    for username, other in (("linkta", "linkstudent"), ("linkstudent", "linkta"),
                            ("linkalum", "linkstudent")):
        with pytest.raises(InvalidCredentials):
            await directory.authenticate(username, SPECIAL_PASSWORDS[other])
    # each entry's own password still works
    assert (await _login(directory, "linkta")).username == "linkta"
