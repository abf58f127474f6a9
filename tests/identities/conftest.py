"""Live servers whose directory links entries into one person (IDP_IDENTITIES_LINK_ATTRIBUTE
seeAlso, IDP_IDENTITIES_CORRELATE_BY eduPersonOrcid), on both backend sets: the embedded one
(local directory, in-process store, SQLite) and production (slapd, Redis, PostgreSQL).

Hu Min is a postgraduate who is also a teaching assistant: two entries, each with its own
password; the TA entry's seeAlso names the student entry (one side only)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import httpx
import pytest

from directory.local import LocalDirectory
from tests.oauth.flow import Browser, form_field
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import SUFFIX, Campus, ldap_settings

PEOPLE = f"ou=people,{SUFFIX}"
LINKS = {"link_attribute": "seeAlso", "correlate_by": "eduPersonOrcid"}
# Zhao Lei is a student who also administers a lab: the lab entry is in a group that must use a
# second factor, the student entry is not
MFA_GROUP = "lab-admins"
MFA = {"required_groups": [MFA_GROUP]}


@dataclass(frozen=True)
class Entry:
    username: str
    password: str
    name: str
    affiliation: str
    number: str
    department: str


STUDENT = Entry("humin", "Humin-student-1", "胡敏（研究生）", "student", "2024310101", "计算机学院")
TA = Entry("humin-ta", "Humin-assistant-1", "胡敏（助教）", "staff", "T2024101", "计算机学院教学办")
LAB_STUDENT = Entry("zhaolei", "Zhaolei-student-1", "赵磊（学生）", "student", "2023310102",
                    "物理学院")
LAB_ADMIN = Entry("zhaolei-lab", "Zhaolei-lab-admin-1", "赵磊（实验室管理员）", "staff", "T2023102",
                  "物理实验中心")
LONE = Entry("solo", "Solo-person-1", "独立 Solo", "student", "2024310199", "数学学院")


async def _local_people(directory: LocalDirectory) -> None:
    for entry, attributes in ((STUDENT, {"eduPersonOrcid": ["0000-0001-5109-3700"]}),
                              (TA, {"seeAlso": [STUDENT.username]}), (LONE, {}),
                              (LAB_STUDENT, {}), (LAB_ADMIN, {"seeAlso": [LAB_STUDENT.username]})):
        await directory.create_person(
            entry.username, entry.password, name=entry.name, affiliations=[entry.affiliation],
            number=entry.number, department=entry.department, attributes=attributes)
    await directory.create_group(MFA_GROUP)
    await directory.add_member(MFA_GROUP, LAB_ADMIN.username)


def _ldif(entry: Entry, *extra: str) -> str:
    return "\n".join([
        f"dn: uid={entry.username},{PEOPLE}", "objectClass: inetOrgPerson",
        "objectClass: eduPerson", f"uid: {entry.username}", f"cn: {entry.name}", "sn: 胡",
        f"eduPersonAffiliation: {entry.affiliation}", f"employeeNumber: {entry.number}",
        f"ou: {entry.department}", f"userPassword: {entry.password}", *extra]) + "\n"


@pytest.fixture(scope="session")
async def linked_embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    root: Path = tmp_path_factory.mktemp("identities")
    live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                           directory="local", redis_url=None, seed=True, identities=LINKS,
                           mfa=MFA)
    await _local_people(live.services.directory)  # type: ignore[arg-type]
    yield live
    await live.stop()


@pytest.fixture(scope="session")
async def linked_production(campus_slapd: Campus, tmp_path_factory: pytest.TempPathFactory
                            ) -> AsyncIterator[LiveIdp]:
    from tests.support.databases import create_postgres_database, drop_postgres_database
    from tests.support.redis import unique_prefix

    database_url = await create_postgres_database()
    campus_slapd.server.ldapadd(
        _ldif(STUDENT, "eduPersonOrcid: 0000-0001-5109-3700") + "\n"
        + _ldif(TA, f"seeAlso: uid={STUDENT.username},{PEOPLE}") + "\n" + _ldif(LONE) + "\n"
        + _ldif(LAB_STUDENT) + "\n"
        + _ldif(LAB_ADMIN, f"seeAlso: uid={LAB_STUDENT.username},{PEOPLE}") + "\n"
        + f"dn: cn={MFA_GROUP},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {MFA_GROUP}\n"
        f"member: uid={LAB_ADMIN.username},{PEOPLE}\n")
    server = campus_slapd.server
    ldap = ldap_settings(server, person_cache_seconds=1, admin_bind_dn=server.root_dn,
                         admin_bind_password=server.root_pw)
    live = await start_idp(
        database_url=database_url, redis_url="redis://127.0.0.1:6379/0",
        redis_prefix=unique_prefix(), directory="ldap", ldap=ldap.model_dump(),
        keys_dir=tmp_path_factory.mktemp("identities-keys"), identities=LINKS, mfa=MFA)
    live.slapd = campus_slapd.server
    yield live
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()
    await drop_postgres_database(database_url)


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    return request.getfixturevalue(f"linked_{request.param}")


@pytest.fixture
async def browser(live: LiveIdp) -> AsyncIterator[Browser]:
    opened = Browser.open(live)
    yield opened
    await opened.close()


IDENTITY_BUTTON = re.compile(r'data-identity="([^"]+)".*?name="identity" value="([^"]+)"', re.S)


def offered(page: httpx.Response) -> dict[str, str]:
    """username -> subject of every identity the choice page offers."""
    return {unescape(user): unescape(subject)
            for user, subject in IDENTITY_BUTTON.findall(page.text)}


async def choose(browser: Browser, page: httpx.Response, username: str) -> httpx.Response:
    """Pick `username`'s identity on the choice page and walk on to the answer that leaves the
    provider's pages."""
    assert page.status_code == 200, page.text[:300]
    assert "以哪个身份登录" in page.text or "Sign in as" in page.text
    response = await browser.http.post(str(page.url.path), data={
        "csrf": form_field(page.text, "csrf"), "identity": offered(page)[username]})
    assert response.status_code == 303, response.text[:300]
    return await browser.walk(await browser.http.get(response.headers["location"]))
