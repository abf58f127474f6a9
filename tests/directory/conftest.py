"""Backends for the directory contract suite: the local directory on SQLite and on PostgreSQL,
and LdapDirectory against a real throwaway slapd and against a real Samba Active Directory DC
(tests/conftest.py `samba_dc`). Each holds the demo people plus a few people in
special states (locked, expired, must change, disabled) made the way each backend makes them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from directory.base import Directory
from directory.config import IdentityLinkConfig
from directory.demo_people import seed_local
from directory.ldap import LdapDirectory
from directory.local import LocalDirectory
from idp.db.engine import open_engine
from tests.support.samba_campus import CORRELATE_ATTRIBUTE
from tests.support.samba_dc import SambaDC
from tests.support.slapd import SUFFIX, Campus, CampusSlapd, ldap_settings

POSTGRES_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PEOPLE = f"ou=people,{SUFFIX}"

# people every backend holds besides the demo ones: username -> password
SPECIAL_PASSWORDS = {
    "locked": "locked-pass-1",
    "expired": "expired-pass-1",
    "mustchange": "mustchange-pass-1",
    "lockme": "lockme-pass-1",
    "liuyang": "liuyang-pass-1",
    "warned": "warned-pass-1",
}


# entries that are one person (directory/base.py `identities`): a postgraduate who is also a
# teaching assistant (the TA entry's seeAlso names the student entry: one side only) and an
# alumni entry sharing the student's ORCID. `linkgone` links too, but is disabled; `linkwide`
# links to an entry outside the people base; `linkodd`'s ORCID is a filter injection attempt.
LINKS = IdentityLinkConfig(link_attribute="seeAlso", correlate_by="eduPersonOrcid")
ORCID = "0000-0002-1825-0097"
LINKED = {
    "linkstudent": ("Lin Student", "linkstudent-pass-1", "student", "2024310001", "计算机学院"),
    "linkta": ("Lin Assistant", "linkta-pass-1", "staff", "T2024001", "计算机学院教学办"),
    "linkalum": ("Lin Alumnus", "linkalum-pass-1", "alum", "2018010001", "校友会"),
    "linkgone": ("Lin Gone", "linkgone-pass-1", "staff", "T2010001", "人事处"),
    "linkwide": ("Lin Wide", "linkwide-pass-1", "staff", "T2010002", "人事处"),
    "linkodd": ("Lin Odd", "linkodd-pass-1", "student", "2024310009", "数学学院"),
}
SPECIAL_PASSWORDS |= {uid: shape[1] for uid, shape in LINKED.items()}
LINK_VALUES: dict[str, dict[str, list[str]]] = {
    "linkstudent": {"eduPersonOrcid": [ORCID]},
    "linkta": {"seeAlso": ["linkstudent"]},
    "linkalum": {"eduPersonOrcid": [ORCID]},
    "linkgone": {"seeAlso": ["linkstudent"]},
    "linkwide": {"seeAlso": [f"cn=admin,{SUFFIX}"]},
    "linkodd": {"eduPersonOrcid": ["*)(uid=*"]},
}


def _person_ldif(uid: str, cn: str, *extra: str, dn: str | None = None) -> str:
    lines = [
        f"dn: {dn or f'uid={uid},{PEOPLE}'}",
        "objectClass: inetOrgPerson",
        "objectClass: eduPerson",
        f"uid: {uid}",
        f"cn: {cn}",
        f"sn: {cn.split()[-1]}",
        f"userPassword: {SPECIAL_PASSWORDS[uid]}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


# LDAP shapes of the special people: ppolicy operational attributes carry the states.
# The expired person is under the "short" policy (pwdMaxAge 1 s, no grace logins).
SPECIAL_LDIF = "\n".join(
    [
        _person_ldif("locked", "Locked Person", "pwdAccountLockedTime: 000001010000Z"),
        _person_ldif("expired", "Expired Person", f"pwdPolicySubentry: cn=short,ou=policies,{SUFFIX}"),
        _person_ldif("mustchange", "Must Change", "pwdReset: TRUE"),
        _person_ldif("lockme", "Lock Me"),
        _person_ldif("warned", "Warned Person", f"pwdPolicySubentry: cn=warned,ou=policies,{SUFFIX}"),
        # a DN with an escaped comma: DNs are opaque, bind to what the search returned
        _person_ldif("liuyang", "Liu Yang", dn=f"cn=Liu\\, Yang,{PEOPLE}"),
    ]
)

def _linked_ldif(uid: str) -> str:
    name, _password, affiliation, number, department = LINKED[uid]
    extra = [f"eduPersonAffiliation: {affiliation}", f"employeeNumber: {number}",
             f"ou: {department}"]
    for attribute, values in LINK_VALUES[uid].items():
        for value in values:
            # the local directory names the linked entry by login name, LDAP by DN
            if attribute == "seeAlso" and "=" not in value:
                value = f"uid={value},{PEOPLE}"
            extra.append(f"{attribute}: {value}")
    if uid == "linkgone":
        extra.append("pwdAccountLockedTime: 000001010000Z")  # administratively disabled
    return _person_ldif(uid, name, *extra)


LINKED_LDIF = "\n".join(_linked_ldif(uid) for uid in LINKED)

# groups for the nested walk: outer > middle > inner > student, and inner contains outer again
NESTED_LDIF = f"""dn: ou=nested,{SUFFIX}
objectClass: organizationalUnit
ou: nested

dn: cn=g-inner,ou=nested,{SUFFIX}
objectClass: groupOfNames
cn: g-inner
member: uid=student,{PEOPLE}

dn: cn=g-middle,ou=nested,{SUFFIX}
objectClass: groupOfUniqueNames
cn: g-middle
uniqueMember: cn=g-inner,ou=nested,{SUFFIX}

dn: cn=g-outer,ou=nested,{SUFFIX}
objectClass: groupOfNames
cn: g-outer
member: cn=g-middle,ou=nested,{SUFFIX}

dn: cn=g-inner,ou=nested,{SUFFIX}
changetype: modify
add: member
member: cn=g-outer,ou=nested,{SUFFIX}
"""


def _start(memberof: bool, *extra: str) -> Campus:
    server = CampusSlapd(memberof=memberof)
    server.start()
    server.seed(SPECIAL_LDIF, LINKED_LDIF, *extra)
    return Campus(server)


@pytest.fixture(scope="session")
def campus() -> Iterator[Campus]:
    """slapd with the memberof overlay: the contract suite's LDAP."""
    running = _start(True)
    yield running
    running.server.stop()


@pytest.fixture(scope="session")
def bare_campus() -> Iterator[Campus]:
    """slapd without memberOf, with nested groups; the LDAP-only tests stop and start it."""
    running = _start(False)
    # the modify in NESTED_LDIF needs ldapmodify -a (adds plus one change record)
    running.server.ldapmodify(NESTED_LDIF, ["-a"])
    yield running
    if not running.server.running:
        running.server.resume()
    running.server.stop()


async def _local(engine: AsyncEngine) -> LocalDirectory:
    directory = LocalDirectory(engine, links=LINKS)
    await directory.create_all()
    await seed_local(directory)
    for username, password in SPECIAL_PASSWORDS.items():
        if username in LINKED:
            continue
        await directory.create_person(username, password=password, name=username.title())
    for username, (name, password, affiliation, number, department) in LINKED.items():
        await directory.create_person(
            username, password=password, name=name, affiliations=[affiliation], number=number,
            department=department, attributes=LINK_VALUES[username],
            disabled=username == "linkgone")
    await directory.lock("locked")
    await directory.expire_password("expired")
    await directory.require_password_change("mustchange")
    await directory.create_person("disabled", password="disabled-pass-1", disabled=True)
    return directory


@pytest.fixture(scope="session")
async def sqlite_local(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalDirectory]:
    path: Path = tmp_path_factory.mktemp("directory") / "local.db"
    engine = open_engine(f"sqlite:///{path}")
    directory = await _local(engine)
    yield directory
    await directory.close()
    await engine.dispose()


@pytest.fixture(scope="session")
async def postgres_local() -> AsyncIterator[LocalDirectory]:
    name = f"idp_dir_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = open_engine(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        directory = await _local(engine)
        yield directory
        await directory.close()
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session")
async def ldap_directory(campus: Campus) -> AsyncIterator[LdapDirectory]:
    directory = LdapDirectory(ldap_settings(campus.server), links=LINKS)
    yield directory
    await directory.close()


@pytest.fixture(scope="session")
async def ad_directory(samba_dc: SambaDC) -> AsyncIterator[LdapDirectory]:
    """LdapDirectory on the activedirectory profile, over LDAPS verified with the test CA."""
    links = IdentityLinkConfig(link_attribute="seeAlso", correlate_by=CORRELATE_ATTRIBUTE)
    directory = LdapDirectory(samba_dc.settings(), links=links)
    yield directory
    await directory.close()


@pytest.fixture(params=["local-sqlite", "local-postgres", "ldap", "ad"])
def directory(request: pytest.FixtureRequest) -> Directory:
    """The contract suite runs once per backend."""
    fixture = {
        "local-sqlite": "sqlite_local",
        "local-postgres": "postgres_local",
        "ldap": "ldap_directory",
        "ad": "ad_directory",
    }[request.param]
    if request.param == "ldap":
        request.getfixturevalue("campus").wait_for_expiry()
    return request.getfixturevalue(fixture)
