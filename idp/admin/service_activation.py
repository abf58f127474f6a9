"""The "to activate" mark from the admin side (idp/db/activation.py): whether people carry it,
and marking or unmarking one person by hand (an account the campus's own provisioning created
without a password, or one an admin wants to hand over by activation after all)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from directory.base import Person
from idp.admin.service_common import Actor, Invalid, record
from idp.db.activation import ActivationMarks

if TYPE_CHECKING:
    from idp.services import Services


def marks_of(services: Services) -> ActivationMarks:
    return ActivationMarks(services.db)


async def to_activate(services: Services, people: list[Person]) -> set[str]:
    """The subjects of these people that are marked."""
    return await marks_of(services).marked(person.subject for person in people)


async def set_mark(services: Services, actor: Actor, person: Person, marked: bool) -> bool:
    """Mark or unmark; audited. Returns whether anything changed."""
    if marked and not services.settings.activation.enabled:
        raise Invalid("activation is off (IDP_ACTIVATION_FACTS is empty): nobody could activate")
    marks = marks_of(services)
    if marked:
        changed = await marks.mark(person.subject, person.username, by=actor.username)
    else:
        changed = await marks.take(person.subject)
    await record(services, actor, "mark_to_activate" if marked else "unmark_to_activate",
                 target=person.username, changed=changed)
    return changed


async def drop_mark(services: Services, person: Person) -> None:
    """Someone handed the person a password (an admin's reset) or disabled them: they are no
    longer to activate. Quietly: the action that did it is audited already."""
    await marks_of(services).take(person.subject)
