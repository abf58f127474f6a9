"""Groups: list them, add and remove members (written through the directory writer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from directory.base import Group
from idp.admin.service_common import Actor, Invalid, NotFound, audited, directory_errors, writer_of

if TYPE_CHECKING:
    from idp.services import Services


async def list_groups(services: Services) -> list[Group]:
    with directory_errors():
        return await services.directory.groups()


async def _check(services: Services, group: str, username: str) -> str:
    if not group or not username:
        raise Invalid("a group and a username are required")
    with directory_errors():
        person = await services.directory.find(username)
    if person is None:
        raise NotFound(f"no person {username!r}")
    return person.username


async def add_member(services: Services, actor: Actor, group: str, username: str) -> None:
    name = await _check(services, group, username)
    await audited(services, actor, "add_member", writer_of(services).add_member(group, name),
                  target=name, group=group)


async def remove_member(services: Services, actor: Actor, group: str, username: str) -> None:
    name = await _check(services, group, username)
    if group == services.settings.access.admin_group and name == actor.username:
        # the last admin locking everyone out is the classic console accident
        raise Invalid("you cannot remove yourself from the admin group; ask another admin")
    await audited(services, actor, "remove_member", writer_of(services).remove_member(group, name),
                  target=name, group=group)
