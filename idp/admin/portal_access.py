"""Who may use a developer's app, asked for in the portal (idp/sso/access.py has the rule).

A change that only narrows the rule (a first rule on an open app, fewer groups or affiliations)
applies at once: a developer may always keep people out of their own app. A change that would
let someone in whom the current rule keeps out is a request: kept beside the rule until an admin
approves or declines it in the console, because admins may have narrowed the app on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.admin.portal import OwnedAppPost, audit, owned_app_post
from idp.admin.portal_render import portal_error
from idp.admin.service_clients import request_access_rule, set_access_rule
from idp.http.routing import Router
from idp.services import ServicesDep
from idp.sso.access import AccessRule, checked_rule, widens

router = Router(audience="page", include_in_schema=False)


def _names(value: object) -> list[str]:
    text = value if isinstance(value, str) else ""
    return [line.strip() for line in text[:20_000].replace(",", "\n").splitlines() if line.strip()]


@router.post("/portal/apps/{client_id}/access")
async def set_access(client_id: str, request: Request, services: ServicesDep) -> Response:
    post = await owned_app_post(request, services, client_id)
    if not isinstance(post, OwnedAppPost):
        return post
    developer, client, form = post.developer, post.client, post.form
    try:
        rule = checked_rule(_names(form.get("allow_groups")), _names(form.get("allow_affiliations")))
    except ValueError as exc:
        return portal_error(request, services.settings, status=400, title="bad_request_title",
                            detail="err_form", problem=str(exc))
    current = AccessRule.of(client.extra)
    page = f"/portal/{'cas' if client.protocol == 'cas' else 'apps'}/{client_id}"
    if widens(current, rule):
        await request_access_rule(services.db, client_id, rule, developer.person.username,
                                  datetime.now(UTC).isoformat(timespec="seconds"))
        await audit(services, request, developer, "access_request", client_id=client_id,
                    groups=list(rule.groups), affiliations=list(rule.affiliations))
        return RedirectResponse(f"{page}?access=requested", status_code=303)
    await set_access_rule(services.db, client_id, rule)
    await audit(services, request, developer, "access_rule", client_id=client_id,
                groups=list(rule.groups), affiliations=list(rule.affiliations))
    return RedirectResponse(f"{page}?access=saved", status_code=303)
