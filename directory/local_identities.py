"""Linked identities in the local directory: the entries that are one person.

The same two ways as on LDAP (directory/ldap_identities.py), kept in `dir_attributes` under the
configured attribute names: a link attribute whose values name another entry (by login name: the
local directory has no DNs), followed both ways, and a correlation attribute whose shared value
makes entries one person. Breadth first from the entry signed in with, DNs-seen guard by row id,
at most MAX_IDENTITIES entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from directory.base import MAX_IDENTITIES, username_key
from directory.config import IdentityLinkConfig
from directory.local_schema import DirAttribute, DirPerson

MAX_VALUE = 256


def attribute_rows(person_id: int, attributes: Mapping[str, Iterable[str]]) -> list[DirAttribute]:
    """The rows of a person's further attributes; ValueError for a name or value that cannot be
    stored."""
    rows: dict[tuple[str, str], DirAttribute] = {}
    for name, values in attributes.items():
        if not name or len(name) > 64 or not name.replace("-", "").isalnum():
            raise ValueError(f"{name!r} is not an attribute name")
        if isinstance(values, str):
            values = [values]
        for value in values:
            key = username_key(value) if isinstance(value, str) else ""
            if not key or len(value) > MAX_VALUE or not value.isprintable():
                raise ValueError(f"attribute {name}: {value!r} is not a value")
            rows[(name.casefold(), key)] = DirAttribute(
                person_id=person_id, name=name.casefold(), value_key=key, value=value.strip())
    return list(rows.values())


async def replace_attribute(session: AsyncSession, person_id: int, name: str,
                            values: Iterable[str]) -> None:
    rows = attribute_rows(person_id, {name: list(values)})
    await session.execute(delete(DirAttribute).where(
        DirAttribute.person_id == person_id, DirAttribute.name == name.casefold()))
    session.add_all(rows)


async def linked_rows(session: AsyncSession, start: DirPerson,
                      links: IdentityLinkConfig) -> list[DirPerson]:
    """The rows of every entry of the person `start` is, `start` first."""
    link = links.link_attribute.casefold()
    correlate = links.correlate_by.casefold()
    found = [start]
    seen = {start.id}
    queue = [start]
    while queue and len(found) < MAX_IDENTITIES:
        row = queue.pop(0)
        for other in await _neighbours(session, row, link, correlate):
            if other.id in seen:
                continue
            seen.add(other.id)
            found.append(other)
            queue.append(other)
            if len(found) >= MAX_IDENTITIES:
                break
    return found


async def _neighbours(session: AsyncSession, row: DirPerson, link: str,
                      correlate: str) -> list[DirPerson]:
    mine = select(DirAttribute.value_key).where(DirAttribute.person_id == row.id)
    neighbours: list[DirPerson] = []
    limit = MAX_IDENTITIES + 1
    if link:
        # forwards: the login names this entry's link attribute holds
        forwards = select(DirPerson).where(DirPerson.username_key.in_(
            mine.where(DirAttribute.name == link))).limit(limit)
        # backwards: the entries whose link attribute holds this entry's login name
        backwards = select(DirPerson).join(DirAttribute, DirAttribute.person_id == DirPerson.id) \
            .where(DirAttribute.name == link, DirAttribute.value_key == row.username_key) \
            .limit(limit)
        neighbours += list(await session.scalars(forwards))
        neighbours += list(await session.scalars(backwards))
    if correlate:
        shared = select(DirPerson).join(DirAttribute, DirAttribute.person_id == DirPerson.id) \
            .where(DirAttribute.name == correlate, DirAttribute.value_key.in_(
                mine.where(DirAttribute.name == correlate))).limit(limit)
        neighbours += list(await session.scalars(shared))
    return neighbours
