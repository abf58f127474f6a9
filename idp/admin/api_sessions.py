"""/admin/api/people/{username}/sessions: a person's SSO sessions; revoke one or all of them
(the apps signed into hear of it by back-channel logout)."""

from __future__ import annotations

from fastapi import Request

from idp.admin import service_sessions
from idp.admin.api_common import ERRORS, AdminApiRoute, AdminDep, actor_of
from idp.admin.api_models import EndedOut, SessionOut, SessionsOut
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="api", route_class=AdminApiRoute, responses=ERRORS, tags=["admin: sessions"])


@router.get("/people/{username}/sessions", response_model=SessionsOut)
async def list_sessions(username: str, services: ServicesDep, admin: AdminDep) -> SessionsOut:
    subject, views = await service_sessions.sessions_of(services, username)
    return SessionsOut(username=username, subject=subject,
                       sessions=[SessionOut.of(view) for view in views])


@router.delete("/people/{username}/sessions/{sid}", response_model=EndedOut)
async def revoke_session(username: str, sid: str, request: Request, services: ServicesDep,
                         admin: AdminDep) -> EndedOut:
    ended = await service_sessions.revoke_session(services, actor_of(admin, request), username, sid)
    return EndedOut.of(ended)


@router.delete("/people/{username}/sessions", response_model=list[EndedOut])
async def revoke_all_sessions(username: str, request: Request, services: ServicesDep,
                              admin: AdminDep) -> list[EndedOut]:
    ended = await service_sessions.revoke_all_sessions(services, actor_of(admin, request), username)
    return [EndedOut.of(item) for item in ended]
