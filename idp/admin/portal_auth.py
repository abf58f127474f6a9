"""Who is using the developer portal, and how they get signed in.

The portal is a `LoginArea` (idp/web/login_area.py): it reads the SSO session cookie directly,
and without a session the browser signs in through /authorize as the internal first-party
client "campus-idp-portal" (redirect URI {issuer}/portal/callback) and comes back to the page it
asked for. Who may enter is the portal's own rule: members of the developer group, and admins.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import Person
from idp.admin.portal_render import portal_error
from idp.services import Services
from idp.sso.sessions import SsoSession
from idp.web import login_area
from idp.web.login_area import LoginArea


def _login_failed(request: Request, services: Services, error: str | None) -> Response:
    if error is None:  # not this browser's state: nothing to explain, start again
        return RedirectResponse(PORTAL.prefix, status_code=303)
    return portal_error(request, services.settings, status=400, title="portal_login_failed_title",
                        detail="portal_login_failed", error=error)


def _unavailable(request: Request, services: Services) -> Response:
    return portal_error(request, services.settings, status=503,
                        title="err_directory_unavailable_title", detail="err_directory_unavailable")


PORTAL = LoginArea("/portal", "campus-idp-portal", "开发者门户 Developer portal",
                   failed=_login_failed, unavailable=_unavailable)


@dataclass(frozen=True)
class Developer:
    session: SsoSession
    person: Person
    is_admin: bool

    @property
    def subject(self) -> str:
        return self.person.subject


async def current_developer(request: Request, services: Services) -> Developer | Response:
    """The signed-in developer, or the response to send instead: a login redirect without a
    session, a readable 403 for people outside the developer and admin groups."""
    who = await login_area.signed_in(request, services, PORTAL)
    if isinstance(who, Response):
        return who
    access = services.settings.access
    is_admin = access.admin_group in who.person.groups
    if not is_admin and access.developer_group not in who.person.groups:
        return portal_error(request, services.settings, status=403, title="portal_forbidden_title",
                            detail="portal_forbidden", group=access.developer_group)
    return Developer(session=who.session, person=who.person, is_admin=is_admin)


async def csrf_token(request: Request, services: Services,
                     developer: Developer) -> tuple[str, bool]:
    """The token to put in this page's forms, and whether the cookie must be set."""
    return await login_area.remember_csrf(request, services, PORTAL, developer.session)


async def csrf_ok(request: Request, services: Services, developer: Developer,
                  submitted: object) -> bool:
    return await login_area.csrf_ok(request, services, PORTAL, developer.session, submitted)
