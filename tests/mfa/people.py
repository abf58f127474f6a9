"""Fresh people for each test, in whichever directory the server uses (local or slapd), so the
factors one test enrols never meet another test (or the demo people other suites log in as)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import ldap

from directory.local import LocalDirectory
from tests.mfa.server import REQUIRED_GROUP
from tests.support.server import LiveIdp
from tests.support.slapd import SERVICE_DN, SUFFIX

PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"


@dataclass
class Someone:
    username: str
    password: str
    email: str


async def prepare_groups(live: LiveIdp) -> None:
    """The group whose members must use a second factor (settings mfa.required_groups)."""
    directory = live.services.directory
    if isinstance(directory, LocalDirectory):
        if REQUIRED_GROUP not in {g.name for g in await directory.groups()}:
            await directory.create_group(REQUIRED_GROUP)
        return
    conn = ldap.initialize(live.slapd.ldap_uri)
    try:
        conn.simple_bind_s(live.slapd.root_dn, live.slapd.root_pw)
        conn.add_s(f"cn={REQUIRED_GROUP},{GROUPS}", [
            ("objectClass", [b"groupOfNames"]), ("cn", [REQUIRED_GROUP.encode()]),
            ("member", [SERVICE_DN.encode()])])
    except ldap.ALREADY_EXISTS:
        pass  # the session's slapd is shared: an earlier server made it
    finally:
        conn.unbind_s()


async def new_person(live: LiveIdp, *, groups: tuple[str, ...] = (), prefix: str = "mfa"
                     ) -> Someone:
    username = f"{prefix}{secrets.token_hex(4)}"
    person = Someone(username, "Pw-" + secrets.token_urlsafe(12), f"{username}@example.edu")
    directory = live.services.directory
    if isinstance(directory, LocalDirectory):
        await directory.create_person(person.username, person.password, name=f"Test {username}",
                                      email=person.email)
        for group in groups:
            await directory.add_member(group, person.username)
        return person
    live.slapd.ldapadd(
        f"dn: uid={username},{PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: eduPerson\n"
        f"uid: {username}\ncn: Test {username}\nsn: {username}\nmail: {person.email}\n"
        f"userPassword: {person.password}\n")
    for group in groups:
        live.slapd.ldapmodify(
            f"dn: cn={group},{GROUPS}\nchangetype: modify\nadd: member\n"
            f"member: uid={username},{PEOPLE}\n")
    return person
