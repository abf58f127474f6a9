"""Several identities, one person: which of them an app gets, the same for every protocol.

A person may hold several directory entries that the directory links as one person (a
postgraduate who is also a teaching assistant; staff who study part-time: directory/base.py
`identities`). The password proves one entry; the session keeps the subjects of all of them
(sessions.py `SsoSession.identities`, read once at sign-in). For each app the core settles which
entry the app gets, in this order:

1. the app's access rule (access.py) lets exactly one of them in: that one, without asking (an
   app limited to staff gets the staff identity);
2. the person has just chosen on the choice page for this very request (web/identity.py);
3. unless the app asked to choose again (OIDC `prompt=select_account`), the person's remembered
   default for this app (table identity_defaults, written by the choice page and /account);
4. otherwise the person chooses: the protocol parks a pending sign-in on the "identity" page.

The app then gets exactly that entry: its subject and its claims, in codes, tokens (refresh
included: it keeps the subject) and CAS tickets. Nobody gets an identity whose rule refuses it,
and nobody signs in with the other entry's password: the choice is offered only after one
entry's own password (or session) was proved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from directory.base import DirectoryUnavailable, Person
from idp.db.models import IdentityDefault, utcnow
from idp.sso.access import AccessRule
from idp.sso.sessions import SsoSession
from idp.sso.signins import PendingSignIn

if TYPE_CHECKING:
    from idp.services import Services


@dataclass(frozen=True)
class IdentityOutcome:
    """The identity the app gets, or None when the person must choose among `candidates`."""

    person: Person | None
    candidates: tuple[Person, ...]


async def linked_subjects(services: Services, person: Person) -> list[str]:
    """The subjects of the person's linked identities, `person`'s first, for a new session. An
    outage only loses the choice, never the sign-in: the entry signed in with is always one."""
    try:
        identities = await services.directory.identities(person)
    except DirectoryUnavailable:
        identities = (person,)
    return [p.subject for p in identities]


async def session_identities(services: Services, session: SsoSession,
                             signed_in: Person) -> tuple[Person, ...]:
    """The session's identities as the directory holds them now (disabled entries left out)."""
    if len(session.identities) <= 1:
        return (signed_in,)
    people = [signed_in]
    for subject in session.identities:
        if subject == signed_in.subject:
            continue
        other = await services.directory.by_subject(subject)
        if other is not None and not other.disabled:
            people.append(other)
    return tuple(people)


async def identity_for_app(services: Services, session: SsoSession, signed_in: Person,
                           app_id: str, rule: AccessRule, *, select_again: bool = False,
                           resumed: PendingSignIn | None = None) -> IdentityOutcome:
    """Which identity app `app_id` gets (see the module docstring for the order). `resumed` is
    the pending sign-in the browser comes back with: its choice counts only when this browser's
    current session made it."""
    identities = await session_identities(services, session, signed_in)
    if len(identities) == 1:
        return IdentityOutcome(signed_in, identities)
    passing = tuple(p for p in identities if rule.allows(p))
    if not passing:
        # none may use the app: the entry signed in with is refused by the rule downstream
        return IdentityOutcome(signed_in, ())
    if len(passing) == 1:
        return IdentityOutcome(passing[0], passing)
    chosen = just_chosen(resumed, session)
    if chosen is None and not select_again:
        chosen = await remembered(services, [p.subject for p in identities], app_id)
    for person in passing:
        if person.subject == chosen:
            return IdentityOutcome(person, passing)
    return IdentityOutcome(None, passing)


def just_chosen(resumed: PendingSignIn | None, session: SsoSession) -> str | None:
    """The identity chosen (or settled on) for the request being resumed: the choice page's
    answer, or what a protocol carried through a second-factor or consent page."""
    if resumed is None or resumed.sid is None or resumed.sid != session.sid:
        return None
    chosen = resumed.extra.get("identity")
    return chosen if isinstance(chosen, str) else None


def choice_extra(candidates: Iterable[Person]) -> dict[str, Any]:
    """What the choice page shows of each candidate (kept in the pending sign-in, so the page
    needs no directory call), and the only subjects it accepts."""
    return {"identities": [
        {"subject": p.subject, "username": p.username, "name": p.name or p.username,
         "affiliations": list(p.affiliations), "number": p.number or "",
         "department": p.department or ""}
        for p in candidates]}


async def remembered(services: Services, subjects: list[str], app_id: str) -> str | None:
    """The person's default identity for the app: the newest choice made from any of their
    entries."""
    if not subjects or not app_id:
        return None
    async with services.db() as db:
        return await db.scalar(
            select(IdentityDefault.chosen)
            .where(IdentityDefault.client_id == app_id, IdentityDefault.subject.in_(subjects))
            .order_by(IdentityDefault.chosen_at.desc(), IdentityDefault.id.desc()).limit(1))


async def defaults_of(services: Services, subjects: list[str]) -> dict[str, str]:
    """app id -> remembered identity, for every app the person chose one for (/account)."""
    if not subjects:
        return {}
    async with services.db() as db:
        rows = await db.execute(
            select(IdentityDefault.client_id, IdentityDefault.chosen)
            .where(IdentityDefault.subject.in_(subjects))
            .order_by(IdentityDefault.chosen_at, IdentityDefault.id))
        return {client_id: chosen for client_id, chosen in rows}  # the newest wins


async def remember(services: Services, subject: str, app_id: str, chosen: str) -> None:
    """Make `chosen` the default of the person signed in as `subject` for the app."""
    for _attempt in range(2):  # another replica may insert the same row at the same moment
        try:
            async with services.db() as db, db.begin():
                row = await db.scalar(select(IdentityDefault).where(
                    IdentityDefault.subject == subject, IdentityDefault.client_id == app_id))
                if row is None:
                    db.add(IdentityDefault(subject=subject, client_id=app_id, chosen=chosen))
                else:
                    row.chosen, row.chosen_at = chosen, utcnow()
            return
        except IntegrityError:
            continue


async def forget(services: Services, subjects: list[str], app_id: str) -> None:
    """No default for the app any more: the person is asked next time."""
    async with services.db() as db, db.begin():
        rows = await db.scalars(select(IdentityDefault).where(
            IdentityDefault.client_id == app_id, IdentityDefault.subject.in_(subjects)))
        for row in rows:
            await db.delete(row)
