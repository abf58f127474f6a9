"""Write people into whichever directory a live server uses: the local directory through its
API, slapd through an LDAP add/modify as the directory manager (what an IT admin's tools do)."""

from __future__ import annotations

import asyncio

from directory.local import LocalDirectory
from tests.support.server import LiveIdp
from tests.support.slapd import SUFFIX

PEOPLE = f"ou=people,{SUFFIX}"


async def add_person(live: LiveIdp, username: str, password: str, *, name: str) -> None:
    directory = live.services.directory
    if isinstance(directory, LocalDirectory):
        await directory.create_person(username, password, name=name)
        return
    live.slapd.ldapadd(
        f"dn: uid={username},{PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: eduPerson\n"
        f"uid: {username}\ncn: {name}\nsn: {name.split()[-1]}\nmail: {username}@example.edu\n"
        f"userPassword: {password}\n"
    )


async def disable_person(live: LiveIdp, username: str) -> None:
    """Disable an account: the local flag, or ppolicy's administrative lock on OpenLDAP."""
    directory = live.services.directory
    if isinstance(directory, LocalDirectory):
        await directory.set_disabled(username)
        return
    live.slapd.ldapmodify(
        f"dn: uid={username},{PEOPLE}\nchangetype: modify\nreplace: pwdAccountLockedTime\n"
        "pwdAccountLockedTime: 000001010000Z\n"
    )
    # made behind the IdP's back: its person cache shows it once the kept copy expires
    await asyncio.sleep(live.settings.ldap.person_cache_seconds + 0.2)


GROUPS = f"ou=groups,{SUFFIX}"


async def join_group(live: LiveIdp, group: str, username: str) -> None:
    await _membership(live, group, username, "add")


async def leave_group(live: LiveIdp, group: str, username: str) -> None:
    """Take the person out of the group, as an admin's directory tool would; the IdP sees it
    once its kept copy of the person expires."""
    await _membership(live, group, username, "delete")
    if not isinstance(live.services.directory, LocalDirectory):
        await asyncio.sleep(live.settings.ldap.person_cache_seconds + 0.2)


async def _membership(live: LiveIdp, group: str, username: str, change: str) -> None:
    directory = live.services.directory
    if isinstance(directory, LocalDirectory):
        if change == "add":
            await directory.add_member(group, username)
        else:
            await directory.remove_member(group, username)
        return
    live.slapd.ldapmodify(
        f"dn: cn={group},{GROUPS}\nchangetype: modify\n{change}: member\n"
        f"member: uid={username},{PEOPLE}\n"
    )
