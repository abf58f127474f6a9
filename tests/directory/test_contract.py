"""The Directory contract: every backend (local on SQLite and PostgreSQL, LDAP on slapd) behaves
the same at the seam the IdP uses."""

from __future__ import annotations

import pytest

from directory.base import (
    AccountLocked,
    Directory,
    DirectoryError,
    InvalidCredentials,
    MustChangePassword,
    PasswordExpired,
)
from directory.demo_people import DEMO_GROUPS, DEMO_PEOPLE

INJECTIONS = [
    "*",
    "stud*",
    "*)(objectClass=*",
    ")(uid=*",
    "student)(uid=*",
    "admin)(|(uid=*",
    "student)(|(uid=*",
    "student\x00",
    "student\x00x",
    "\\",
    "student\\",
    "(uid=student)",
]


async def test_login_returns_the_person(directory: Directory) -> None:
    person = await directory.authenticate("student", "student123")
    assert person.username == "student"
    assert person.name == "张三"
    assert person.family_name == "张"
    assert person.given_name == "三"
    assert person.department == "计算机学院"
    assert person.number == "2023010001"
    assert person.email == "student@example.edu"
    assert person.principal_name == "student@example.edu"
    assert "student" in person.affiliations
    assert person.groups == ("students",)
    # the subject is a stable opaque id, never the login name
    assert person.subject and person.subject != person.username
    assert "student" not in person.subject


async def test_every_demo_person_logs_in_with_the_documented_password(
    directory: Directory,
) -> None:
    for demo in DEMO_PEOPLE:
        person = await directory.authenticate(demo.username, demo.password)
        assert person.username == demo.username
        assert person.name == demo.name
        assert set(person.groups) == set(demo.groups)


async def test_person_in_several_groups(directory: Directory) -> None:
    person = await directory.authenticate("itadmin", "itadmin123")
    assert person.groups == ("idp-admins", "idp-developers", "staff")


async def test_subject_is_stable_and_distinct(directory: Directory) -> None:
    first = await directory.authenticate("teacher", "teacher123")
    again = await directory.authenticate("teacher", "teacher123")
    other = await directory.authenticate("student", "student123")
    assert first.subject == again.subject
    assert first.subject != other.subject


async def test_wrong_password(directory: Directory) -> None:
    with pytest.raises(InvalidCredentials):
        await directory.authenticate("student", "student124")
    # the right password still works (and, on LDAP, resets ppolicy's failure count)
    assert (await directory.authenticate("student", "student123")).username == "student"


async def test_password_is_not_trimmed_or_case_folded(directory: Directory) -> None:
    for variant in ("student123 ", " student123", "STUDENT123"):
        with pytest.raises(InvalidCredentials):
            await directory.authenticate("student", variant)
    assert (await directory.authenticate("student", "student123")).username == "student"


async def test_unknown_user_looks_like_a_wrong_password(directory: Directory) -> None:
    with pytest.raises(InvalidCredentials) as wrong:
        await directory.authenticate("student", "not-the-password")
    with pytest.raises(InvalidCredentials) as unknown:
        await directory.authenticate("nobody-at-all", "not-the-password")
    assert type(wrong.value) is type(unknown.value)
    assert str(wrong.value) == str(unknown.value)
    assert wrong.value.kind == unknown.value.kind
    assert (await directory.authenticate("student", "student123")).username == "student"


async def test_empty_password_is_rejected(directory: Directory) -> None:
    for username in ("student", "nobody-at-all", ""):
        with pytest.raises(InvalidCredentials):
            await directory.authenticate(username, "")


@pytest.mark.parametrize("username", INJECTIONS)
async def test_filter_injection_never_authenticates(directory: Directory, username: str) -> None:
    # with the student's real password: an unescaped filter would let "stud*" or a NUL
    # truncation through; an escaped one finds no such user
    with pytest.raises(DirectoryError) as caught:
        await directory.authenticate(username, "student123")
    assert type(caught.value) is InvalidCredentials
    assert str(caught.value) == "invalid username or password"
    assert await directory.find(username) is None
    assert await directory.locate(username) is None


async def test_login_name_is_case_insensitive_and_spelled_by_the_directory(
    directory: Directory,
) -> None:
    for typed in ("Student", "STUDENT", " student "):
        person = await directory.authenticate(typed, "student123")
        assert person.username == "student"


async def test_compatibility_spellings_find_the_same_person(directory: Directory) -> None:
    """Fullwidth, mathematical and circled letters are the plain ones to every backend (NFKC),
    as they are to OpenLDAP's own matching (LDAP-PITFALLS 13)."""
    student = await directory.find("student")
    assert student is not None
    for typed in ("\uff53tudent", "\U0001d42c\U0001d42d\U0001d42e\U0001d41d\U0001d41e\U0001d427\U0001d42d",
                  "\u24e2tudent"):
        person = await directory.authenticate(typed, "student123")
        assert person.subject == student.subject and person.username == "student"


async def test_locate_names_the_entry_without_a_bind(directory: Directory) -> None:
    """`locate` is what the login throttle counts against: the same entry for every spelling,
    found by a search alone, so it never adds to the directory's failure count."""
    student = await directory.find("student")
    assert student is not None
    for typed in ("student", "STUDENT", " student ", "\uff53tudent"):
        account = await directory.locate(typed)
        assert account is not None
        assert account.key == student.subject and account.username == "student"
    assert await directory.locate("nobody-at-all") is None
    assert await directory.locate("") is None


async def test_chinese_names_round_trip(directory: Directory) -> None:
    teacher = await directory.find("teacher")
    assert teacher is not None
    assert teacher.name == "李老师"
    assert teacher.title == "教授"
    assert teacher.department == "计算机学院"
    admin = await directory.find("itadmin")
    assert admin is not None and admin.department == "信息化中心"


async def test_locked_account(directory: Directory) -> None:
    with pytest.raises(AccountLocked):
        await directory.authenticate("locked", "locked-pass-1")


async def test_expired_password(directory: Directory) -> None:
    with pytest.raises(PasswordExpired):
        await directory.authenticate("expired", "expired-pass-1")


async def test_must_change_password(directory: Directory) -> None:
    with pytest.raises(MustChangePassword):
        await directory.authenticate("mustchange", "mustchange-pass-1")


async def test_account_state_errors_are_not_invalid_credentials(directory: Directory) -> None:
    for error in (AccountLocked, PasswordExpired, MustChangePassword):
        assert not issubclass(error, InvalidCredentials)


async def test_find(directory: Directory) -> None:
    person = await directory.find("Teacher")
    assert person is not None
    assert person.username == "teacher"
    assert set(person.groups) == {"staff", "faculty"}
    assert await directory.find("nobody-at-all") is None
    assert await directory.find("") is None


async def test_by_subject(directory: Directory) -> None:
    person = await directory.authenticate("developer", "developer123")
    found = await directory.by_subject(person.subject)
    assert found is not None
    assert found.username == "developer"
    assert found.subject == person.subject
    assert found.groups == person.groups
    assert await directory.by_subject("00000000-0000-4000-8000-000000000000") is None
    assert await directory.by_subject("*") is None
    assert await directory.by_subject("") is None


async def test_dn_with_a_comma(directory: Directory) -> None:
    person = await directory.authenticate("liuyang", "liuyang-pass-1")
    assert person.username == "liuyang"


async def test_groups_listing(directory: Directory) -> None:
    names = {group.name for group in await directory.groups()}
    assert set(DEMO_GROUPS) <= names


async def test_check(directory: Directory) -> None:
    description = await directory.check()
    assert directory.name in ("local", "ldap")
    assert description


async def test_facts_are_read_without_a_bind(directory: Directory) -> None:
    """What /activate compares: the asked attributes of the entry a name finds (LDAP names on
    the local directory too), the entry's subject, and None for nobody."""
    person = await directory.authenticate("student", "student123")
    found = await directory.facts("Student", ("employeeNumber", "sn", "givenName", "mail"))
    assert found is not None
    assert found.account.key == person.subject and found.account.username == "student"
    assert found.values == {"employeeNumber": ("2023010001",), "sn": ("张",),
                            "givenName": ("三",), "mail": ("student@example.edu",)}
    assert await directory.facts("no-such-person", ("sn",)) is None
    assert await directory.facts("stud*", ("sn",)) is None  # a filter value, escaped
