"""/admin/api/people and /admin/api/groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from idp.admin import service_activation, service_groups, service_people
from idp.admin.api_common import ERRORS, AdminApiRoute, AdminDep, actor_of
from idp.admin.api_models import (
    AccountStateOut,
    CreatedOut,
    DisabledOut,
    DoneOut,
    GroupOut,
    MembershipOut,
    PeoplePageOut,
    PersonCreateIn,
    PersonDetailOut,
    PersonOut,
    PersonUpdateIn,
    ResetIn,
    ResetOut,
    epoch,
)
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="api", route_class=AdminApiRoute, responses=ERRORS)
FIELDS = ("name", "given_name", "family_name", "email", "phone", "number", "department", "title",
          "affiliations", "principal_name", "entitlements")


@router.get("/people", response_model=PeoplePageOut, tags=["admin: people"])
async def search_people(
    services: ServicesDep, admin: AdminDep,
    q: Annotated[str, Query(max_length=100, description="part of a login name, name, e-mail "
                                                         "or number")] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    size: Annotated[int, Query(ge=1, le=service_people.MAX_PAGE_SIZE)] = 50,
) -> PeoplePageOut:
    """Paged search over the directory (LDAP Simple Paged Results, or SQL LIMIT/OFFSET)."""
    found = await service_people.search_people(services, q, page, size)
    return PeoplePageOut(items=[PersonOut.of(p) for p in found.items], page=found.page,
                         size=found.size, has_more=found.has_more)


@router.post("/people", status_code=201, response_model=CreatedOut, tags=["admin: people"])
async def create_person(body: PersonCreateIn, request: Request, services: ServicesDep,
                        admin: AdminDep) -> CreatedOut:
    fields = body.model_dump(include=set(FIELDS), exclude_none=True)
    created = await service_people.create_person(
        services, actor_of(admin, request), body.username, fields, password=body.password,
        groups=body.groups, must_change=body.must_change)
    return CreatedOut(person=PersonOut.of(created.person), password=created.password)


@router.get("/people/{username}", response_model=PersonDetailOut, tags=["admin: people"])
async def get_person(username: str, services: ServicesDep, admin: AdminDep) -> PersonDetailOut:
    detail = await service_people.person_detail(services, username)
    return PersonDetailOut(**PersonOut.of(detail.person).model_dump(), dn=detail.person.dn,
                           state=AccountStateOut.of(detail.state, detail.to_activate),
                           linked_identities=[p.username for p in detail.linked])


@router.patch("/people/{username}", response_model=PersonOut, tags=["admin: people"])
async def update_person(username: str, body: PersonUpdateIn, request: Request,
                        services: ServicesDep, admin: AdminDep) -> PersonOut:
    person = await service_people.update_person(services, actor_of(admin, request), username,
                                                body.model_dump(exclude_unset=True))
    return PersonOut.of(person)


@router.post("/people/{username}/disable", response_model=DisabledOut, tags=["admin: people"])
async def disable_person(username: str, request: Request, services: ServicesDep,
                         admin: AdminDep) -> DisabledOut:
    """Disable the account; its SSO sessions end (back-channel logout) and its refresh tokens
    are revoked."""
    ended = await service_people.set_disabled(services, actor_of(admin, request), username, True)
    return DisabledOut(username=username, disabled=True, sessions_ended=len(ended))


@router.post("/people/{username}/enable", response_model=DisabledOut, tags=["admin: people"])
async def enable_person(username: str, request: Request, services: ServicesDep,
                        admin: AdminDep) -> DisabledOut:
    await service_people.set_disabled(services, actor_of(admin, request), username, False)
    return DisabledOut(username=username, disabled=False)


@router.post("/people/{username}/unlock", response_model=DoneOut, tags=["admin: people"])
async def unlock_person(username: str, request: Request, services: ServicesDep,
                        admin: AdminDep) -> DoneOut:
    """Lift a lockout after failed logins (a disabled account stays disabled)."""
    await service_people.unlock(services, actor_of(admin, request), username)
    return DoneOut(username=username, done="unlocked")


@router.post("/people/{username}/reset-password", response_model=ResetOut, tags=["admin: people"])
async def reset_password(username: str, request: Request, services: ServicesDep, admin: AdminDep,
                         body: ResetIn | None = None) -> ResetOut:
    body = body or ResetIn()
    result = await service_people.reset_password(services, actor_of(admin, request), username,
                                                 mode=body.mode, must_change=body.must_change)
    return ResetOut(username=username, password=result.password, link=result.link,
                    expires_at=epoch(result.expires_at), must_change=result.must_change)


@router.post("/people/{username}/force-password-change", response_model=DoneOut,
             tags=["admin: people"])
async def force_password_change(username: str, request: Request, services: ServicesDep,
                                admin: AdminDep) -> DoneOut:
    """The next login must change the password (ppolicy pwdReset / AD pwdLastSet 0)."""
    await service_people.force_password_change(services, actor_of(admin, request), username)
    return DoneOut(username=username, done="must_change_password")


@router.put("/people/{username}/to-activate", response_model=DoneOut, tags=["admin: people"])
async def mark_to_activate(username: str, request: Request, services: ServicesDep,
                           admin: AdminDep) -> DoneOut:
    """Mark the person to activate: they set their own password at /activate (needs
    IDP_ACTIVATION_FACTS). For an account created without a password by other means."""
    person = await service_people.find_person(services, username)
    await service_activation.set_mark(services, actor_of(admin, request), person, True)
    return DoneOut(username=person.username, done="to_activate")


@router.delete("/people/{username}/to-activate", response_model=DoneOut, tags=["admin: people"])
async def unmark_to_activate(username: str, request: Request, services: ServicesDep,
                             admin: AdminDep) -> DoneOut:
    """The person is no longer to activate (/activate refuses them)."""
    person = await service_people.find_person(services, username)
    await service_activation.set_mark(services, actor_of(admin, request), person, False)
    return DoneOut(username=person.username, done="not_to_activate")


@router.get("/groups", response_model=list[GroupOut], tags=["admin: groups"])
async def list_groups(services: ServicesDep, admin: AdminDep) -> list[GroupOut]:
    return [GroupOut(name=g.name, description=g.description)
            for g in await service_groups.list_groups(services)]


@router.put("/groups/{group}/members/{username}", response_model=MembershipOut,
            tags=["admin: groups"])
async def add_member(group: str, username: str, request: Request, services: ServicesDep,
                     admin: AdminDep) -> MembershipOut:
    await service_groups.add_member(services, actor_of(admin, request), group, username)
    return MembershipOut(group=group, username=username, member=True)


@router.delete("/groups/{group}/members/{username}", response_model=MembershipOut,
               tags=["admin: groups"])
async def remove_member(group: str, username: str, request: Request, services: ServicesDep,
                        admin: AdminDep) -> MembershipOut:
    await service_groups.remove_member(services, actor_of(admin, request), group, username)
    return MembershipOut(group=group, username=username, member=False)
