"""Rendering the developer portal's pages (through idp/admin/pages.py, the admin area's one
template environment) in the portal's language.

The base layout links only /static/site.css and its card is phone-narrow; the portal's pages add
their own small stylesheet (served by the portal router from PORTAL_CSS) to widen it for tables
and code.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse
from starlette.requests import Request

from idp.admin.pages import render_admin
from idp.admin.portal_i18n import text
from idp.settings import Settings
from idp.web.i18n import Locale, choose_locale, from_ui_locales
from idp.web.pages import switch_url

LOCALE_COOKIE = "idp_portal_lang"

PORTAL_CSS = """\
header.site, main.card { max-width: 56rem; }
nav.portal { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin-bottom: 1rem; }
nav.portal .who { flex: 1; color: #52606d; font-size: .9rem; }
table.apps { width: 100%; border-collapse: collapse; margin: 0 0 1rem; }
table.apps th, table.apps td { text-align: left; padding: .5rem .25rem; border-bottom: 1px solid #e2e7ee; }
code, pre { font: .9rem/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: #f4f6f8; padding: .75rem; border-radius: 8px; overflow-x: auto; white-space: pre; }
.secret { word-break: break-all; background: #fff7e0; padding: .5rem; border-radius: 6px; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: 999px; font-size: .85rem; }
.badge.active { background: #e3f5e8; color: #1d6b34; }
.badge.pending { background: #fff2d6; color: #7a4d00; }
.badge.disabled { background: #eceff3; color: #52606d; }
textarea, input[type=url] { width: 100%; padding: .6rem .75rem; font-size: 1rem;
  border: 1px solid #9aa5b1; border-radius: 8px; }
textarea { min-height: 5rem; font-family: ui-monospace, Menlo, Consolas, monospace; }
fieldset { border: 1px solid #e2e7ee; border-radius: 8px; margin: 1rem 0; padding: .5rem 1rem 1rem; }
.scope { padding: .5rem 0; border-bottom: 1px solid #eef1f5; }
.scope label { display: inline; font-weight: 500; margin: 0; }
.scope .reason { margin-top: .35rem; }
section.block { margin: 1.5rem 0; padding-top: 1rem; border-top: 1px solid #e2e7ee; }
a.button { display: inline-block; padding: .6rem 1rem; border-radius: 8px; background: #0b5cad;
  color: #fff; text-decoration: none; font-weight: 600; }
"""


def portal_locale(request: Request, settings: Settings) -> Locale:
    """The language switch (?ui_locales=) wins and is remembered in a cookie for the next
    pages; then the cookie, Accept-Language and the site default."""
    return (
        from_ui_locales(request.query_params.get("ui_locales"))
        or from_ui_locales(request.cookies.get(LOCALE_COOKIE))
        or choose_locale(request, settings.site.default_locale)
    )


def _switch_url(request: Request, locale: Locale, page_path: str | None) -> str:
    """The same page in the other language. A page shown in answer to a POST cannot be
    fetched again with GET: its switch leads to `page_path` (default: the portal home)."""
    if request.method == "GET":
        return switch_url(request, locale)
    other: Locale = "en" if locale == "zh" else "zh"
    return f"{page_path or '/portal'}?ui_locales={other}"


def render(request: Request, settings: Settings, template: str, *, locale: Locale,
           status: int = 200, page_path: str | None = None, **context: Any) -> HTMLResponse:
    return render_admin(request, template, locale=locale, text=text,
                        switch=_switch_url(request, locale, page_path),
                        locale_cookie=LOCALE_COOKIE, cookie_path="/portal", status=status,
                        **context)


def portal_error(request: Request, settings: Settings, *, status: int, title: str, detail: str,
                 locale: Locale | None = None, **values: object) -> HTMLResponse:
    """A readable error page in the portal's language; `detail` may take format values."""
    chosen = locale or portal_locale(request, settings)
    return render(request, settings, "portal_error.html", locale=chosen, status=status,
                  title=text(title, chosen), detail=text(detail, chosen, **values))
