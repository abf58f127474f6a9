"""The account page's identities: the entries that are the person (idp/sso/identities.py), and
which of them each app gets, changeable here (the choice page's default, per app).

Only the person's own identities can be made an app's default, and only from their own SSO
session; "ask me each time" forgets the default, so the next sign-in to the app shows the
choice again.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from idp.db.models import Client
from idp.http.routing import Router
from idp.services import Services, ServicesDep
from idp.sso.identities import defaults_of, forget, remember, session_identities
from idp.web import identity_text  # noqa: F401  (registers the page strings)
from idp.web.account_common import Visit, checked_post, done

router = Router(audience="page")

MAX_APP_ID = 64


async def identities_context(services: Services, found: Visit) -> dict[str, object]:
    """What the account page shows: the identities (none when the person has just one) and,
    per app a default was chosen for, which one."""
    people = await session_identities(services, found.session, found.person)
    if len(people) <= 1:
        return {"identities": [], "identity_apps": []}
    identities = [{"subject": p.subject, "username": p.username, "name": p.name or p.username,
                   "affiliations": list(p.affiliations), "number": p.number or "",
                   "department": p.department or ""} for p in people]
    defaults = await defaults_of(services, [p.subject for p in people])
    names: dict[str, str] = {}
    if defaults:
        async with services.db() as db:
            rows = await db.execute(select(Client.client_id, Client.name)
                                    .where(Client.client_id.in_(sorted(defaults))))
            names = {client_id: name for client_id, name in rows}
    apps = [{"client_id": client_id, "name": names[client_id], "chosen": chosen}
            for client_id, chosen in defaults.items() if client_id in names]
    return {"identities": identities, "identity_apps": sorted(apps, key=lambda a: a["name"])}


@router.post("/account/identities")
async def change_default(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    client_id, chosen = form.get("client_id"), form.get("identity")
    if not isinstance(client_id, str) or not client_id or len(client_id) > MAX_APP_ID \
            or not isinstance(chosen, str):
        return done()
    people = await session_identities(services, found.session, found.person)
    subjects = [p.subject for p in people]
    if chosen and chosen not in subjects:
        return done()  # never another person's entry: nothing to tell an attacker
    if chosen:
        await remember(services, found.session.subject, client_id, chosen)
    else:
        await forget(services, subjects, client_id)
    picked = next((p.username for p in people if p.subject == chosen), None)
    await services.audit.record("account", "identity_default", actor=found.person.username,
                                client_id=client_id, identity=picked)
    return done("account_identity_changed")
