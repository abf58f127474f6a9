"""Rendering the interaction pages: one Jinja2 environment, the page chrome every page shares
(campus name, logo, language switch), and `error_page`, the readable error page (the server's
error policy renders a protocol's PageError with it, wherever a redirect back to the client
would be unsafe)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from idp.settings import Settings
from idp.web.i18n import Locale, choose_locale, text

TEMPLATES_DIR = Path(__file__).parent / "templates"



def template_environment(*search: Path) -> Environment:
    """A Jinja2 environment over the directories `search`, then these pages' templates (whose
    base layout the console and the portal extend)."""
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(path) for path in (*search, TEMPLATES_DIR)]),
        autoescape=select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # templates ship with the package and change only with a restart: no stat() per render
        auto_reload=False,
    )


_env = template_environment()

HTML_LANG: dict[Locale, str] = {"zh": "zh-CN", "en": "en"}


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def switch_url(request: Request, locale: Locale) -> str:
    """The same page in the other language (a plain link, so it works without JavaScript)."""
    other: Locale = "en" if locale == "zh" else "zh"
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "ui_locales"]
    query.append(("ui_locales", other))
    return f"{request.url.path}?{urlencode(query)}"


def render_with(
    environment: Environment, request: Request, template: str, *, locale: Locale,
    text: Callable[..., str], switch: str, status: int = 200,
    headers: dict[str, str] | None = None, **context: Any,
) -> HTMLResponse:
    """A page in the campus chrome (name, logo, language switch) from any of the site's
    template environments, with `text(key, locale, **values)` as its catalogue."""
    site = settings_of(request).site

    def t(key: str, **values: object) -> str:
        return text(key, locale, **values)

    html = environment.get_template(template).render(
        t=t, locale=locale, html_lang=HTML_LANG[locale],
        campus_name=site.campus_name_zh if locale == "zh" else site.campus_name,
        logo_url=site.logo_url, switch_url=switch, **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    # pages carry CSRF tokens, secrets and personal data: never keep them in any cache
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def render(
    request: Request, template: str, *, locale: Locale, status: int = 200,
    headers: dict[str, str] | None = None, **context: Any,
) -> HTMLResponse:
    return render_with(_env, request, template, locale=locale, text=text,
                       switch=switch_url(request, locale), status=status, headers=headers,
                       **context)


def error_page(
    request: Request, *, status: int, title: str, detail: str, locale: Locale | None = None,
    headers: dict[str, str] | None = None, values: dict[str, object] | None = None,
) -> HTMLResponse:
    """A readable error page at the OP, never a redirect.

    `title` and `detail` may be keys of the i18n catalogue (e.g. "interaction_expired_title",
    "interaction_expired"), shown in the person's language, or free text shown as given.
    """
    chosen = locale or choose_locale(request, settings_of(request).site.default_locale)
    return render(request, "error.html", locale=chosen, status=status, headers=headers,
                  title=text(title, chosen), detail=text(detail, chosen, **(values or {})))
