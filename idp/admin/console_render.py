"""The console's page machinery: its pages (idp/admin/templates/admin_*.html, rendered through
idp/admin/pages.py), the page context every console route opens first (who, language, CSRF), and
a route class that turns refusals into readable pages.

CSRF: the interaction UI's double-submit token (idp/web/csrf.py): an HttpOnly cookie, a hidden
field in every form, and the server's copy kept per SSO session in the Store. A POST is accepted
only when all three agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.admin.auth import CONSOLE, require_person
from idp.admin.console_i18n import text
from idp.admin.pages import render_admin
from idp.admin.service_common import Actor, AdminError
from idp.http.routing import Route
from idp.services import Services
from idp.sso.cookie import client_ip
from idp.web import csrf
from idp.web.i18n import Locale, choose_locale, from_ui_locales
from idp.web.login_area import SignedIn, csrf_ok, remember_csrf
from idp.web.pages import switch_url

log = logging.getLogger("idp.admin.console")

LOCALE_COOKIE = "idp_admin_lang"
MAX_FORM_BYTES = 64 * 1024

CONSOLE_CSS = """\
header.site, main.card { max-width: 72rem; }
nav.console { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: center;
  margin: 0 0 1rem; padding-bottom: .5rem; border-bottom: 1px solid #e2e7ee; }
nav.console a { color: #0b5cad; text-decoration: none; padding: .25rem 0; }
nav.console a.here { font-weight: 700; color: #1c2430; }
nav.console .who { flex: 1; text-align: right; color: #52606d; font-size: .9rem; }
table.list { width: 100%; border-collapse: collapse; margin: 0 0 1rem; font-size: .95rem; }
table.list th, table.list td { text-align: left; padding: .4rem .3rem; border-bottom: 1px solid #e2e7ee;
  vertical-align: top; }
table.list td.num { text-align: right; }
table.list code { font-size: .8rem; word-break: break-all; }
form.inline { display: inline; }
form.row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: .5rem 0 1rem; }
form.row label { margin: 0; font-size: .85rem; }
form.row input, form.row select { min-height: 40px; }
form.row button, form.inline button, button.small { width: auto; min-height: 36px; margin: 0;
  padding: .4rem .9rem; font-size: .95rem; }
button.danger { background: #a61b1b; }
input[type=text], input[type=email], input[type=search], input[type=password], input[type=file],
select, textarea { padding: .4rem .6rem; font-size: 1rem; border: 1px solid #9aa5b1; border-radius: 8px; }
textarea { width: 100%; min-height: 4.5rem; font-family: ui-monospace, Menlo, Consolas, monospace; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 0 1rem; }
.grid input[type=text], .grid input[type=email], .grid input[type=password] { width: 100%; }
section.block { margin: 1.25rem 0; padding-top: .75rem; border-top: 1px solid #e2e7ee; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem;
  background: #eceff3; color: #52606d; }
.badge.ok, .badge.active { background: #e3f5e8; color: #1d6b34; }
.badge.warn, .badge.pending { background: #fff2d6; color: #7a4d00; }
.badge.bad, .badge.disabled { background: #fdecea; color: #8a1c12; }
.secret { font: 1.1rem ui-monospace, Menlo, Consolas, monospace; word-break: break-all;
  background: #fff7e0; padding: .6rem; border-radius: 6px; }
.echart { width: 100%; height: 22rem; }
.chart h2 { margin-bottom: .25rem; }
.chart .note { margin: 0 0 .5rem; color: #52606d; }
.chart details { margin: .25rem 0 0; }
.chart details table { max-width: 40rem; }
.chart details .scroll { max-height: 24rem; overflow: auto; }
nav.range ul { list-style: none; display: flex; gap: .5rem; padding: 0; margin: .5rem 0 0; }
nav.range a { display: inline-block; padding: .3rem .8rem; border: 1px solid #9aa5b1;
  border-radius: 999px; color: #0b5cad; text-decoration: none; }
nav.range a[aria-current] { background: #0b5cad; border-color: #0b5cad; color: #fff; }
table.audit td:nth-child(-n+4) { white-space: nowrap; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .6rem; margin: 0;
  font-size: .85rem; }
dl.fields dt { color: #52606d; }
dl.fields dd { margin: 0; word-break: break-all; }
ul.errors { color: #8a1c12; }
label.inline { display: inline-block; margin: .25rem 1rem .25rem 0; font-weight: 400; }
.progress { width: 100%; height: 1rem; }
"""


class ConsoleRoute(Route):
    """Admin refusals become a readable page with their message and status (outages are the
    server's error policy's, idp/server/errors.py)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except AdminError as exc:
                return failure_page(request, exc.status, exc.message)

        return handle


def page_locale(request: Request) -> Locale:
    settings = request.app.state.settings
    return (from_ui_locales(request.query_params.get("ui_locales"))
            or from_ui_locales(request.cookies.get(LOCALE_COOKIE))
            or choose_locale(request, settings.site.default_locale))


def render(request: Request, template: str, *, locale: Locale, status: int = 200,
           **context: Any) -> HTMLResponse:
    return render_admin(request, template, locale=locale, text=text,
                        switch=switch_url(request, locale), locale_cookie=LOCALE_COOKIE,
                        cookie_path="/", status=status, **context)


def failure_page(request: Request, status: int, message: str) -> HTMLResponse:
    locale = page_locale(request)
    return render(request, "admin_error.html", locale=locale, status=status,
                  title=text("a_error_title", locale), message=message)


@dataclass
class Console:
    """An admin's request to a console page: who, in which language, with which CSRF token."""

    request: Request
    services: Services
    who: SignedIn
    locale: Locale
    csrf_token: str
    new_csrf_cookie: bool

    @property
    def actor(self) -> Actor:
        return Actor(username=self.who.person.username, via="console", ip=client_ip(self.request))

    def t(self, key: str, **values: object) -> str:
        return text(key, self.locale, **values)

    def render(self, template: str, *, status: int = 200, section: str = "", **context: Any
               ) -> HTMLResponse:
        response = render(self.request, template, locale=self.locale, status=status,
                          csrf_token=self.csrf_token, admin=self.who.person, section=section,
                          **context)
        if self.new_csrf_cookie:
            csrf.set_cookie(response, self.csrf_token, self.services.settings)
        return response

    def redirect(self, path: str, done: str | None = None) -> RedirectResponse:
        """Post/Redirect/Get; `done` is a catalogue key the next page shows."""
        if done:
            path += ("&" if "?" in path else "?") + urlencode({"done": done})
        return RedirectResponse(path, status_code=303)

    def done_message(self) -> str | None:
        key = self.request.query_params.get("done")
        return self.t(key) if key and key.startswith("done_") else None


async def open_console(request: Request, services: Services, *,
                       remember_token: bool = True) -> Console | Response:
    """First step of every console page: an admin's session, or the response to send."""
    who = await require_person(request, services, services.settings.access.admin_group)
    if isinstance(who, Response):
        return who
    if remember_token:
        token, new = await remember_csrf(request, services, CONSOLE, who.session)
    else:  # a POST is checked against the token remembered when its page was shown
        token, new = csrf.browser_token(request, services.settings)
    return Console(request, services, who, page_locale(request), token, new)


async def open_form(request: Request, services: Services) -> tuple[Console, FormData] | Response:
    """First step of every console POST: an admin's session and a form whose CSRF token is
    this browser's (a 403 page otherwise, and the attempt is audited)."""
    console = await open_console(request, services, remember_token=False)
    if isinstance(console, Response):
        return console
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES and not request.url.path.endswith("/import"):
        return failure_page(request, 413, "the form is too large")
    form = await request.form()
    if not await csrf_ok(request, services, CONSOLE, console.who.session, form.get("csrf")):
        await services.audit.record("admin", "csrf_failed", actor=console.who.person.username,
                                    ip=client_ip(request), path=request.url.path, via="console")
        return render(request, "admin_error.html", locale=console.locale, status=403,
                      title=text("csrf_title", console.locale),
                      message=text("csrf_detail", console.locale))
    return console, form


def field(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def page_links(base: str, params: dict[str, Any], page: int, has_more: bool) -> dict[str, str | None]:
    """Previous/next links of a listing, keeping its filters."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}

    def link(number: int) -> str:
        return f"{base}?{urlencode({**kept, 'page': number})}"

    return {"prev": link(page - 1) if page > 1 else None, "next": link(page + 1) if has_more else None}
