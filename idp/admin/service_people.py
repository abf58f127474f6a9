"""People: search, detail, create, edit, disable / enable, unlock, reset password, force change.

Writes go through the directory writer (LDAP admin bind, or the local directory); every action
is audited as kind "admin" with the target username. Disabling a person, and resetting their
password, revoke everything they hold (idp/sso/revocation.py): their access and refresh tokens
on every replica at once, and their SSO sessions with single logout. On OpenLDAP a permanently
locked account still *looks* active to a session or a token, so the IdP cuts them off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from directory.base import Person
from directory.writes import AccountState
from idp.admin import service_activation
from idp.admin.service_common import (
    Actor,
    Invalid,
    NotFound,
    audited,
    directory_errors,
    record,
    writer_of,
)
from idp.admin.service_fields import (
    FieldErrors,
    check_password,
    clean_fields,
    clean_username,
    generate_password,
)
from idp.admin.service_sessions import ADMIN_WAIT
from idp.sso import reset_links

if TYPE_CHECKING:
    from idp.services import Services

MAX_PAGE_SIZE = 200


@dataclass
class PeoplePage:
    items: list[Person]
    page: int
    size: int
    has_more: bool


@dataclass
class PersonDetail:
    person: Person
    state: AccountState
    # the person's other entries, linked as one person (IDP_IDENTITIES_*): directory/base.py
    linked: tuple[Person, ...] = ()
    to_activate: bool = False  # marked: sets their own first password at /activate


@dataclass
class Created:
    person: Person
    password: str | None = None  # a generated one-time password, shown once


@dataclass
class ResetResult:
    password: str | None = None  # the generated password, shown once
    link: str | None = None  # the one-time reset link, shown once
    expires_at: int | None = None  # seconds since the epoch, for the link
    must_change: bool = False
    sessions_ended: list[str] = field(default_factory=list)


def _invalid_fields(exc: FieldErrors) -> Invalid:
    return Invalid(str(exc))


async def search_people(services: Services, query: str, page: int = 1, size: int = 50) -> PeoplePage:
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise Invalid(f"page starts at 1; size is 1 to {MAX_PAGE_SIZE}")
    query = (query or "").strip()[:100]
    with directory_errors():
        found = await writer_of(services).search(query, (page - 1) * size, size + 1)
    return PeoplePage(found[:size], page, size, len(found) > size)


async def find_person(services: Services, username: str) -> Person:
    with directory_errors():
        person = await services.directory.find(username)
    if person is None:
        raise NotFound(f"no person {username!r}")
    return person


async def person_detail(services: Services, username: str) -> PersonDetail:
    person = await find_person(services, username)
    with directory_errors():
        state = await writer_of(services).account_state(person.username)
        linked = (await services.directory.identities(person))[1:]
    marked = await service_activation.marks_of(services).is_marked(person.subject)
    return PersonDetail(person, state, linked, marked)


async def known_groups(services: Services) -> set[str]:
    with directory_errors():
        return {group.name for group in await services.directory.groups()}


async def create_person(
    services: Services, actor: Actor, username: str, fields: dict[str, Any], *,
    password: str | None = None, groups: list[str] | tuple[str, ...] = (), must_change: bool = False,
) -> Created:
    """Create a person completely or not at all: when a group cannot be joined, the new account
    is deleted again. Without a password a one-time password is generated and returned once."""
    try:
        name = clean_username(username)
    except ValueError as exc:
        raise Invalid(f"username: {exc}") from None
    try:
        cleaned = {key: value for key, value in clean_fields(fields).items() if value not in (None, [])}
    except FieldErrors as exc:
        raise _invalid_fields(exc) from None
    if password is not None:
        try:
            check_password(password)
        except ValueError as exc:
            raise Invalid(f"password: {exc}") from None
    missing = sorted(set(groups) - await known_groups(services))
    if missing:
        raise Invalid(f"no such group: {', '.join(missing)}")
    generated = generate_password() if password is None else None
    # a generated password is handed over by someone else: the first login replaces it
    must_change = must_change or generated is not None

    async def create() -> Person:
        # all or nothing: a group that cannot be joined undoes the creation (the writer's rule)
        await writer_of(services).create_person(name, password=password or generated,
                                                groups=list(groups), must_change=must_change,
                                                **cleaned)
        return await find_person(services, name)

    person = await audited(services, actor, "create_person", create(), target=name,
                           groups=list(groups))
    return Created(person, generated)


async def update_person(services: Services, actor: Actor, username: str,
                        changes: dict[str, Any]) -> Person:
    try:
        cleaned = clean_fields(changes, partial=True)
    except FieldErrors as exc:
        raise _invalid_fields(exc) from None
    if not cleaned:
        raise Invalid("nothing to change")
    return await audited(services, actor, "update_person",
                         writer_of(services).update_person(username, **cleaned),
                         target=username, fields=sorted(cleaned))


async def set_disabled(services: Services, actor: Actor, username: str, disabled: bool) -> list[str]:
    """Disable or enable; disabling revokes everything the person holds (their tokens on every
    replica, their sessions with single logout). Returns the ended session ids."""
    person = await find_person(services, username)
    if disabled and person.username == actor.username:
        raise Invalid("you cannot disable your own account; ask another admin")
    action = "disable_person" if disabled else "enable_person"
    await audited(services, actor, action,
                  writer_of(services).set_disabled(person.username, disabled), target=person.username)
    if not disabled:
        return []
    await service_activation.drop_mark(services, person)  # a disabled person may not activate
    revoked = await services.revocation.revoke(person.subject, reason="admin_disabled",
                                               actor=person.username, wait=ADMIN_WAIT)
    if revoked.sessions or revoked.grants:
        await record(services, actor, "end_sessions", target=person.username,
                     sessions=len(revoked.sessions), refresh_tokens=revoked.grants)
    return revoked.sessions


async def unlock(services: Services, actor: Actor, username: str) -> None:
    await audited(services, actor, "unlock_person", writer_of(services).unlock(username),
                  target=username)


async def force_password_change(services: Services, actor: Actor, username: str) -> None:
    await audited(services, actor, "force_password_change",
                  writer_of(services).require_password_change(username), target=username)


async def reset_password(services: Services, actor: Actor, username: str, *,
                         mode: Literal["password", "link"] = "password",
                         must_change: bool = False) -> ResetResult:
    """A generated one-time password (set now), or a one-time link with which the person
    chooses a password themselves (nothing changes until it is used; the page behind it is the
    account page's, idp/web/account_reset.py)."""
    person = await find_person(services, username)
    if mode == "password":
        password = generate_password()
        await audited(services, actor, "reset_password",
                      writer_of(services).set_password(person.username, password,
                                                       must_change=must_change),
                      target=person.username, mode=mode, must_change=must_change)
        await service_activation.drop_mark(services, person)  # they have a password now
        # whoever held the old password holds nothing any more (a link resets when it is used)
        revoked = await services.revocation.revoke(person.subject, reason="admin_reset_password",
                                                   actor=person.username, wait=ADMIN_WAIT)
        return ResetResult(password=password, must_change=must_change,
                           sessions_ended=revoked.sessions)
    if mode != "link":
        raise Invalid("mode is 'password' or 'link'")
    ttl = services.settings.access.reset_link_ttl
    expires_at = int(time.time()) + ttl
    link = await audited(services, actor, "reset_link",
                         reset_links.issue(services.store, services.settings.issuer, person, ttl,
                                           issued_by=actor.username),
                         target=person.username, mode=mode)
    return ResetResult(link=link, expires_at=expires_at)
