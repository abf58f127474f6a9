"""The app portal at `/` ("我的应用" / "My apps"): after sign-in, a card for every app the person
may open (idp/sso/catalogue.py), most recently used first, with a search; signed out, a page that
offers the sign-in. /apps is the same page behind the login (a `LoginArea`, so signing in from
`/` goes through the real login page and comes back to the cards).
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from directory.base import DirectoryUnavailable, Person
from idp.http.routing import Router
from idp.services import Services, ServicesDep
from idp.sso.catalogue import cards_for
from idp.sso.cookie import session_id
from idp.web import (
    home_text,  # noqa: F401  (registers the page strings)
    login_area,
)
from idp.web.i18n import choose_locale
from idp.web.login_area import LoginArea
from idp.web.pages import render

HOME = LoginArea("/apps", "campus-idp-apps", "我的应用 My apps")
MAX_QUERY = 100

router = Router(audience="page")


async def _cards_page(request: Request, services: Services, person: Person) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    query = (request.query_params.get("q") or "")[:MAX_QUERY].strip()
    await services.audit.caught_up()  # the app just signed in to is recent (written behind)
    cards = await cards_for(services.db, person, query)
    return render(request, "home.html", locale=locale, title_key="home_title", cards=cards,
                  query=query, user=person.name or person.username, signed_in=True, wide=True)


@router.get("/")
async def home(request: Request, services: ServicesDep) -> Response:
    session = await services.sessions.get(session_id(request, services.settings))
    if session is not None:
        try:
            person = await services.directory.by_subject(session.subject)
        except DirectoryUnavailable:
            return login_area.directory_unavailable_page(request, services)
        if person is not None and not person.disabled:
            return await _cards_page(request, services, person)
    locale = choose_locale(request, services.settings.site.default_locale)
    return render(request, "home.html", locale=locale, signed_in=False)


@router.get("/apps")
async def apps(request: Request, services: ServicesDep) -> Response:
    who = await login_area.signed_in(request, services, HOME)
    if isinstance(who, Response):
        return who
    return await _cards_page(request, services, who.person)


@router.get("/apps/login")
async def apps_login(request: Request, services: ServicesDep) -> Response:
    return await login_area.start_login(request, services, HOME, request.query_params.get("next"))


@router.get(HOME.callback_path)
async def apps_callback(request: Request, services: ServicesDep) -> Response:
    return await login_area.finish_login(request, services, HOME)
