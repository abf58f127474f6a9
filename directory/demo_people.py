"""The demo campus: a handful of people and groups for `idp demo` and the tests.

The same people live in `directory/demo.ldif` (an ordinary inetOrgPerson + eduPerson tree under
dc=example,dc=edu, for the docker-compose OpenLDAP) and are put into the local directory by
`seed_local`. Demo passwords, for trying the IdP out only:

    username    password        who
    student     student123      张三, a computer science student (group students)
    teacher     teacher123      李老师, faculty (groups staff, faculty)
    itadmin     itadmin123      王伟, IT admin (groups idp-admins, idp-developers, staff)
    developer   developer123    赵敏, app developer (groups idp-developers, staff)

The LDAP service account in demo.ldif is cn=idp,ou=services,dc=example,dc=edu with the password
`idp-service-secret`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from directory.local import LocalDirectory


@dataclass(frozen=True)
class DemoPerson:
    username: str
    password: str
    name: str
    family_name: str
    given_name: str
    email: str
    number: str
    department: str
    affiliations: tuple[str, ...]
    groups: tuple[str, ...]
    title: str | None = None
    phone: str | None = None
    entitlements: tuple[str, ...] = field(default=())

    @property
    def principal_name(self) -> str:
        return f"{self.username}@example.edu"


DEMO_GROUPS: dict[str, str] = {
    "idp-admins": "IdP administrators",
    "idp-developers": "may register OIDC clients",
    "students": "all students",
    "staff": "all staff",
    "faculty": "teaching staff",
}

DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        username="student",
        password="student123",
        name="张三",
        family_name="张",
        given_name="三",
        email="student@example.edu",
        number="2023010001",
        department="计算机学院",
        affiliations=("student", "member"),
        groups=("students",),
        phone="+86 10 1234 0001",
    ),
    DemoPerson(
        username="teacher",
        password="teacher123",
        name="李老师",
        family_name="李",
        given_name="老师",
        email="teacher@example.edu",
        number="T19990001",
        department="计算机学院",
        affiliations=("faculty", "staff", "member"),
        groups=("staff", "faculty"),
        title="教授",
        entitlements=("urn:mace:example.edu:oa:approver",),
    ),
    DemoPerson(
        username="itadmin",
        password="itadmin123",
        name="王伟",
        family_name="王",
        given_name="伟",
        email="itadmin@example.edu",
        number="S20100042",
        department="信息化中心",
        affiliations=("staff", "member"),
        groups=("idp-admins", "idp-developers", "staff"),
        title="系统管理员",
    ),
    DemoPerson(
        username="developer",
        password="developer123",
        name="赵敏",
        family_name="赵",
        given_name="敏",
        email="developer@example.edu",
        number="S20200007",
        department="信息化中心",
        affiliations=("staff", "member"),
        groups=("idp-developers", "staff"),
        title="软件工程师",
    ),
)


async def seed_local(directory: LocalDirectory) -> None:
    """Create the demo groups and people that are missing; running it again changes nothing."""
    existing_groups = {group.name for group in await directory.groups()}
    for name, description in DEMO_GROUPS.items():
        if name not in existing_groups:
            await directory.create_group(name, description=description)
    for person in DEMO_PEOPLE:
        if await directory.find(person.username) is None:
            await directory.create_person(
                person.username,
                password=person.password,
                name=person.name,
                given_name=person.given_name,
                family_name=person.family_name,
                email=person.email,
                phone=person.phone,
                number=person.number,
                department=person.department,
                title=person.title,
                affiliations=person.affiliations,
                principal_name=person.principal_name,
                entitlements=person.entitlements,
            )
        for group in person.groups:
            await directory.add_member(group, person.username)
