"""The admin area's pages (the console and the developer portal): one template environment, its
own templates (idp/admin/templates) on the sign-in pages' base layout, so both look like the rest
of campus login without copying the layout; and the language each remembers in a cookie."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from starlette.requests import Request

from idp.web.i18n import Locale, from_ui_locales
from idp.web.pages import render_with, template_environment

ADMIN_TEMPLATES = Path(__file__).parent / "templates"

_env = template_environment(ADMIN_TEMPLATES)


def render_admin(request: Request, template: str, *, locale: Locale, text: Callable[..., str],
                 switch: str, locale_cookie: str, cookie_path: str, status: int = 200,
                 **context: Any) -> HTMLResponse:
    """A console or portal page; a language chosen with ?ui_locales= is remembered in
    `locale_cookie` for the area's next pages."""
    response = render_with(_env, request, template, locale=locale, text=text, switch=switch,
                           status=status, **context)
    if from_ui_locales(request.query_params.get("ui_locales")):
        response.set_cookie(locale_cookie, locale, httponly=True, samesite="lax",
                            secure=request.app.state.settings.https, path=cookie_path)
    return response
