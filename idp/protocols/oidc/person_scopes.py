"""Scopes that depend on who the person is, not only on what the client may ask for.

`idp:admin` opens the admin API: it is granted only to members of the admin group
(IDP_ACCESS_ADMIN_GROUP), whatever the client registered, when the code is issued and again at
every refresh (a person removed from the group loses it at the next refresh). It is never a
client_credentials scope: admin actions always have a person behind them.
"""

from __future__ import annotations

from directory.base import Person
from idp.settings import Settings

ADMIN_SCOPE = "idp:admin"
PERSON_ONLY_SCOPES = frozenset({ADMIN_SCOPE})


def may_have(scope: str, person: Person, settings: Settings) -> bool:
    if scope == ADMIN_SCOPE:
        return settings.access.admin_group in person.groups
    return True


def for_person(scope: str, person: Person, settings: Settings) -> str:
    """The space-separated scope with what this person may not have removed."""
    return " ".join(s for s in scope.split() if may_have(s, person, settings))
