"""A person's SSO sessions and the apps signed into in each; ending one or all of them, which
sends back-channel logout to those apps (OpenID Connect Back-Channel Logout 1.0, idp/sso/logout.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from idp.admin.service_common import Actor, NotFound, audited, directory_errors
from idp.db.models import Client

if TYPE_CHECKING:
    from idp.services import Services

ADMIN_WAIT = 5.0  # seconds an admin waits for deliveries before the answer (the rest continue)


@dataclass
class SessionApp:
    client_id: str
    name: str | None  # None when the client has since been deleted


@dataclass
class SessionView:
    sid: str
    username: str
    created_at: int
    auth_time: int
    ip: str | None
    user_agent: str | None
    apps: list[SessionApp] = field(default_factory=list)


@dataclass
class Ended:
    sid: str
    apps: list[str]
    deliveries: dict[str, str]  # client_id -> delivered / failed; absent while still retrying


async def client_names(services: Services, client_ids: set[str]) -> dict[str, str]:
    if not client_ids:
        return {}
    async with services.db() as db:
        rows = await db.execute(select(Client.client_id, Client.name)
                                .where(Client.client_id.in_(sorted(client_ids))))
        return {client_id: name for client_id, name in rows}


async def sessions_of(services: Services, username: str) -> tuple[str, list[SessionView]]:
    """(subject, sessions) of the person with this login name."""
    with directory_errors():
        person = await services.directory.find(username)
    if person is None:
        raise NotFound(f"no person {username!r}")
    views = []
    for session in await services.sessions.of_subject(person.subject):
        ids = await services.sessions.clients(session.sid)
        names = await client_names(services, ids)
        views.append(SessionView(
            sid=session.sid, username=session.username, created_at=session.created_at,
            auth_time=session.auth_time, ip=session.ip, user_agent=session.user_agent,
            apps=[SessionApp(cid, names.get(cid)) for cid in sorted(ids)]))
    return person.subject, views


async def revoke_session(services: Services, actor: Actor, username: str, sid: str) -> Ended:
    """End one of this person's sessions (a sid of somebody else's is "not found")."""
    subject, views = await sessions_of(services, username)
    if sid not in {view.sid for view in views}:
        raise NotFound("no such session for this person (it may have ended already)")

    async def end() -> Ended:
        result = await services.logout.end(sid, reason="admin", wait=ADMIN_WAIT)
        return Ended(sid, sorted(result.clients), dict(result.deliveries))

    return await audited(services, actor, "revoke_session", end(), target=username,
                         subject=subject, sid_prefix=sid[:8])


async def revoke_all_sessions(services: Services, actor: Actor, username: str) -> list[Ended]:
    subject, views = await sessions_of(services, username)

    async def end() -> list[Ended]:
        ended = []
        for view in views:
            result = await services.logout.end(view.sid, reason="admin", wait=ADMIN_WAIT)
            ended.append(Ended(view.sid, sorted(result.clients), dict(result.deliveries)))
        return ended

    return await audited(services, actor, "revoke_all_sessions", end(), target=username,
                         subject=subject, sessions=len(views))
