"""What every account page shares: the signed-in person (or the login that brings them back),
the language, and CSRF tokens bound to the SSO session.

The account page is a `LoginArea` (idp/web/login_area.py): without a session, the browser
signs in through /authorize as the internal client "campus-idp-account" (straight there: the
area has no login route of its own) and comes back to the page it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import Person
from idp.services import Services
from idp.sso.sessions import SsoSession
from idp.web import csrf, login_area, mfa_text  # noqa: F401  (mfa_text: registers the page strings)
from idp.web.i18n import Locale, choose_locale
from idp.web.login_area import LoginArea
from idp.web.pages import error_page, render

ACCOUNT = LoginArea("/account", "campus-idp-account", "我的账号 My account", login_route=False)


@dataclass
class Visit:
    """A signed-in person on an account page."""

    session: SsoSession
    person: Person
    locale: Locale
    token: str  # this browser's CSRF token
    new_token: bool  # the token must be set as a cookie on the response

    def page(self, request: Request, template: str, **context: Any) -> Response:
        response = render(request, template, locale=self.locale, csrf_token=self.token,
                          user=self.person.name or self.person.username, **context)
        if self.new_token:
            csrf.set_cookie(response, self.token, request.app.state.settings)
        return response


async def visit(request: Request, services: Services, *, form: Any = None) -> Visit | Response:
    """The signed-in person, or the response to send instead (login, or a 503 page)."""
    who = await login_area.signed_in(request, services, ACCOUNT)
    if isinstance(who, Response):
        return who
    locale = choose_locale(request, services.settings.site.default_locale, form=form)
    if form is None:
        token, new = await login_area.remember_csrf(request, services, ACCOUNT, who.session)
    else:  # a POST is checked against the token remembered when its page was shown
        token, new = csrf.browser_token(request, services.settings)
    return Visit(session=who.session, person=who.person, locale=locale, token=token,
                 new_token=new)


async def checked_post(request: Request, services: Services) -> tuple[Visit | Response, Any]:
    """A POST from an account page: the visit, after the CSRF check, and the form."""
    form = await request.form()
    found = await visit(request, services, form=form)
    if isinstance(found, Response):
        return found, form
    if not await login_area.csrf_ok(request, services, ACCOUNT, found.session, form.get("csrf")):
        await services.audit.record("account", "csrf_failed", actor=found.person.username)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=found.locale), form
    return found, form


def done(message: str = "account_done") -> Response:
    return RedirectResponse(f"/account?{urlencode({'done': message})}", status_code=303)
