"""The page behind a one-time password reset link (an admin created it in the console or the
API): the person chooses a new password. Public (the person cannot sign in yet), so CSRF is the
double-submit token with the server's copy kept next to the link."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from starlette.responses import Response

from idp.admin import service_people
from idp.admin.console_i18n import text
from idp.admin.console_render import ConsoleRoute, field, page_locale, render
from idp.admin.service_common import Invalid, NotFound
from idp.admin.service_people import RESET_LINK_PATH
from idp.deps import ServicesDep
from idp.web import csrf

router = APIRouter(route_class=ConsoleRoute)
CSRF_TTL = 30 * 60


def _csrf_key(token: str) -> str:
    return "admin-pwreset-csrf:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


async def _form(request: Request, services: ServicesDep, token: str, username: str, *,
                status: int = 200, error: str | None = None) -> Response:
    csrf_token, new = csrf.browser_token(request, services.settings)
    await services.store.put(_csrf_key(token), csrf_token, CSRF_TTL)
    response = render(request, "admin_reset.html", locale=page_locale(request), status=status,
                      username=username, error=error, csrf_token=csrf_token,
                      action=RESET_LINK_PATH + token)
    if new:
        csrf.set_cookie(response, csrf_token, services.settings)
    return response


def _gone(request: Request) -> Response:
    return render(request, "admin_reset.html", locale=page_locale(request), status=404, gone=True)


@router.get(RESET_LINK_PATH + "{token}")
async def reset_page(token: str, request: Request, services: ServicesDep) -> Response:
    owner = await service_people.reset_link_owner(services, token)
    if owner is None:
        return _gone(request)
    return await _form(request, services, token, owner["username"])


@router.post(RESET_LINK_PATH + "{token}")
async def reset_submit(token: str, request: Request, services: ServicesDep) -> Response:
    locale = page_locale(request)
    owner = await service_people.reset_link_owner(services, token)
    if owner is None:
        return _gone(request)
    form = await request.form()
    expected = await services.store.get(_csrf_key(token))
    if not csrf.is_valid(request, services.settings, form.get("csrf"), expected):
        return render(request, "admin_error.html", locale=locale, status=403,
                      title=text("csrf_title", locale), message=text("csrf_detail", locale))
    password, again = field(form, "password", 1100), field(form, "again", 1100)
    if password != again:
        return await _form(request, services, token, owner["username"], status=400,
                           error=text("r_mismatch", locale))
    try:
        await service_people.redeem_reset_link(services, token, password)
    except NotFound:
        return _gone(request)
    except Invalid as exc:
        return await _form(request, services, token, owner["username"], status=422, error=exc.message)
    await services.store.delete(_csrf_key(token))
    return render(request, "admin_reset.html", locale=locale, finished=True)
