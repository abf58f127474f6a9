"""What only the LDAP backend does, against a real slapd: failover, the directory going away and
coming back, groups without memberOf, nested groups, ppolicy lockout and warnings, StartTLS."""

from __future__ import annotations

import socket
import time

import pytest

from directory.base import (
    AccountLocked,
    DirectoryUnavailable,
    InvalidCredentials,
    Person,
)
from directory.demo_people import DEMO_GROUPS
from directory.ldap import LdapDirectory
from tests.support.slapd import MAX_FAILURE, SUFFIX, Campus, cafile, ldap_settings


def _dead_url() -> str:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ldap://127.0.0.1:{port}"


async def _login(directory: LdapDirectory, username: str = "student") -> Person:
    return await directory.authenticate(username, {"student": "student123"}.get(username, ""))


async def test_failover_to_the_second_uri(bare_campus: Campus) -> None:
    live = bare_campus.server.ldap_uri.rstrip("/")
    directory = LdapDirectory(ldap_settings(bare_campus.server, url=f"{_dead_url()} {live}"))
    try:
        assert (await _login(directory)).username == "student"
        assert (await directory.check()).startswith(live)
    finally:
        await directory.close()


async def test_all_uris_dead_is_unavailable_and_quick(bare_campus: Campus) -> None:
    directory = LdapDirectory(ldap_settings(bare_campus.server, url=f"{_dead_url()} {_dead_url()}"))
    try:
        started = time.monotonic()
        for call in (_login(directory), directory.find("student"), directory.check()):
            with pytest.raises(DirectoryUnavailable):
                await call
        assert time.monotonic() - started < 5
    finally:
        await directory.close()


async def test_directory_stopped_then_started_again(bare_campus: Campus) -> None:
    server = bare_campus.server
    directory = LdapDirectory(ldap_settings(server))
    try:
        assert (await _login(directory)).username == "student"  # the pool is warm now
        server.pause()
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable):
            await _login(directory)
        with pytest.raises(DirectoryUnavailable):
            await directory.by_subject("00000000-0000-4000-8000-000000000000")
        with pytest.raises(DirectoryUnavailable):
            await directory.groups()
        # bounded by the short timeouts, not the OS's minutes
        assert time.monotonic() - started < 5
        server.resume()
        # the same object recovers: broken pooled connections were dropped and reopened
        assert (await _login(directory)).username == "student"
        assert "ldap://" in await directory.check()
    finally:
        if not server.running:
            server.resume()
        await directory.close()


async def test_groups_without_memberof(bare_campus: Campus) -> None:
    directory = LdapDirectory(ldap_settings(bare_campus.server))
    try:
        person = await directory.authenticate("itadmin", "itadmin123")
        assert person.groups == ("idp-admins", "idp-developers", "staff")
        student = await _login(directory)
        assert student.groups == ("students",)  # ou=nested is outside the group base
    finally:
        await directory.close()


async def test_nested_groups_walk_ends_on_a_cycle(bare_campus: Campus) -> None:
    settings = ldap_settings(bare_campus.server, group_base=SUFFIX, nested_groups=True)
    directory = LdapDirectory(settings)
    try:
        started = time.monotonic()
        person = await _login(directory)
        assert time.monotonic() - started < 3
        assert person.groups == ("g-inner", "g-middle", "g-outer", "students")
    finally:
        await directory.close()


async def test_nested_groups_off_gives_direct_groups_only(bare_campus: Campus) -> None:
    settings = ldap_settings(bare_campus.server, group_base=SUFFIX, nested_groups=False)
    directory = LdapDirectory(settings)
    try:
        assert (await _login(directory)).groups == ("g-inner", "students")
    finally:
        await directory.close()


async def test_memberof_is_used_when_present(campus: Campus) -> None:
    # with memberOf the groups come from the entry, even if the group base is elsewhere
    settings = ldap_settings(campus.server, group_base=f"ou=people,{SUFFIX}")
    directory = LdapDirectory(settings)
    try:
        assert (await directory.authenticate("itadmin", "itadmin123")).groups == (
            "idp-admins",
            "idp-developers",
            "staff",
        )
    finally:
        await directory.close()


async def test_groups_listing_is_paged_and_complete(bare_campus: Campus) -> None:
    directory = LdapDirectory(ldap_settings(bare_campus.server, group_base=SUFFIX))
    try:
        names = [group.name for group in await directory.groups()]
        assert set(names) == set(DEMO_GROUPS) | {"g-inner", "g-middle", "g-outer"}
        assert names == sorted(names)
    finally:
        await directory.close()


async def test_ppolicy_lockout_after_max_failures(bare_campus: Campus) -> None:
    directory = LdapDirectory(ldap_settings(bare_campus.server))
    try:
        for _ in range(MAX_FAILURE):
            with pytest.raises(InvalidCredentials):
                await directory.authenticate("lockme", "wrong-password")
        with pytest.raises(AccountLocked) as caught:
            await directory.authenticate("lockme", "lockme-pass-1")
        assert "ppolicy" in (caught.value.detail or "")
    finally:
        await directory.close()


async def test_expiry_warning_reaches_the_person(bare_campus: Campus) -> None:
    # "warned" is under a policy whose warning window is wider than its maximum age
    directory = LdapDirectory(ldap_settings(bare_campus.server))
    try:
        person = await directory.authenticate("warned", "warned-pass-1")
        assert person.notice is not None
        assert person.notice.expires_in is not None
        assert 0 < person.notice.expires_in <= 2592000
        assert (await directory.authenticate("student", "student123")).notice is None
    finally:
        await directory.close()


async def test_start_tls_verifies_the_certificate(bare_campus: Campus) -> None:
    trusted = LdapDirectory(ldap_settings(bare_campus.server, start_tls=True, ca_file=cafile()))
    untrusted = LdapDirectory(
        ldap_settings(bare_campus.server, start_tls=True, ca_file="/etc/ssl/certs/ca-certificates.crt")
    )
    try:
        assert (await _login(trusted)).username == "student"
        # never a silent fall back to plaintext
        with pytest.raises(DirectoryUnavailable):
            await _login(untrusted)
    finally:
        await trusted.close()
        await untrusted.close()


async def test_wrong_service_password_is_unavailable_not_invalid(bare_campus: Campus) -> None:
    directory = LdapDirectory(ldap_settings(bare_campus.server, bind_password="wrong"))
    try:
        with pytest.raises(DirectoryUnavailable):
            await _login(directory)
    finally:
        await directory.close()


async def test_attribute_overrides(bare_campus: Campus) -> None:
    settings = ldap_settings(
        bare_campus.server, attributes={"number": "eduPersonUniqueId", "name": "displayName"}
    )
    directory = LdapDirectory(settings)
    try:
        person = await _login(directory)
        assert person.number == "2023010001@example.edu"
        assert person.name == "张三"
    finally:
        await directory.close()
    with pytest.raises(ValueError, match="shoe_size"):
        LdapDirectory(ldap_settings(bare_campus.server, attributes={"shoe_size": "x"}))


async def test_eduperson_unique_id_as_subject(bare_campus: Campus) -> None:
    settings = ldap_settings(bare_campus.server, attributes={"subject": "eduPersonUniqueId"})
    directory = LdapDirectory(settings)
    try:
        person = await _login(directory)
        assert person.subject == "2023010001@example.edu"
        found = await directory.by_subject(person.subject)
        assert found is not None and found.username == "student"
        assert await directory.by_subject("*@example.edu") is None
    finally:
        await directory.close()


async def test_ambiguous_filter_never_authenticates(bare_campus: Campus) -> None:
    # an operator filter that matches several people: exactly one must match, else no login
    settings = ldap_settings(bare_campus.server, user_filter="(|(uid={username})(objectClass=inetOrgPerson))")
    directory = LdapDirectory(settings)
    try:
        with pytest.raises(InvalidCredentials):
            await _login(directory)
    finally:
        await directory.close()
