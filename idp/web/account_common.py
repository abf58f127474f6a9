"""What every account page shares: the signed-in person (or the login that brings them back),
the language, and CSRF tokens bound to the SSO session.

Without a session, the browser signs in through /authorize as an internal client and comes
back to the page it asked for (account_login.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import DirectoryUnavailable, Person
from idp.app import Services
from idp.sessions import SsoSession
from idp.web import csrf, mfa_text  # noqa: F401  (mfa_text: registers the page strings)
from idp.web.account_login import login_redirect
from idp.web.cookies import session_id
from idp.web.i18n import Locale, choose_locale
from idp.web.pages import error_page, render

CSRF_KEY = "account-csrf:{sid}"


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


async def visit(request: Request, services: Services, *,
                form: Any = None, return_to: str = "/account") -> Visit | Response:
    """The signed-in person, or the response to send instead (login, or a 503 page)."""
    settings = services.settings
    session = await services.sessions.get(session_id(request, settings))
    if session is None:
        return await login_redirect(request, services, return_to)
    try:
        person = await services.directory.by_subject(session.subject)
    except DirectoryUnavailable:
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail="err_directory_unavailable")
    if person is None or person.disabled:
        return await login_redirect(request, services, return_to)
    locale = choose_locale(request, settings.site.default_locale, form=form)
    token, new = csrf.browser_token(request, settings)
    key = CSRF_KEY.format(sid=session.sid)
    if form is None and await services.store.get(key) != token:
        await services.store.put(key, token, settings.session.ttl)
    return Visit(session=session, person=person, locale=locale, token=token, new_token=new)


async def checked_post(request: Request, services: Services) -> tuple[Visit | Response, Any]:
    """A POST from an account page: the visit, after the CSRF check, and the form."""
    form = await request.form()
    found = await visit(request, services, form=form)
    if isinstance(found, Response):
        return found, form
    expected = await services.store.get(CSRF_KEY.format(sid=found.session.sid))
    if not csrf.is_valid(request, services.settings, form.get("csrf"), expected):
        await services.audit.record("account", "csrf_failed", actor=found.person.username)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=found.locale), form
    return found, form


def done(message: str = "account_done") -> Response:
    return RedirectResponse(f"/account?{urlencode({'done': message})}", status_code=303)
