"""Parts of the site behind the SSO login: the account page, the developer portal, the admin
console. Each is a `LoginArea`: a path prefix and an internal first-party client of its own.

The area reads the SSO session cookie directly (sessions.get -> directory.by_subject); only the
*login* goes through the protocol. Without a session the browser is sent through /authorize as
the area's client (public, PKCE, skip_consent, one redirect URI {issuer}{prefix}/callback),
created on first use. So the real login page, its throttle, second factor, CSRF, audit and
session rotation apply unchanged, and the engine needs no hook (a sign-in the engine parked
resumes at the authorization endpoint, so it can only end at a client's redirect URI; the
account page's step-up parks its own, resuming on the account page: account_step_up.py). The callback
checks `state` against this browser's cookie, burns the code (nothing needs the tokens: the
session cookie is what counts) and returns to the page asked for.

Forms of an area carry the browser's CSRF token (idp/web/csrf.py), remembered per SSO session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import DirectoryUnavailable, Person
from idp.db.models import Client
from idp.sso.apps import client_cache, invalidate_client
from idp.sso.cookie import session_id
from idp.sso.sessions import SsoSession
from idp.web import csrf
from idp.web.i18n import from_ui_locales
from idp.web.pages import error_page

if TYPE_CHECKING:
    from idp.services import Services

LOGIN_TTL = 15 * 60
MAX_RETURN_PATH = 2000

# the page after a callback that did not complete: the OAuth error, or None when the state was
# not this browser's
FailedLoginPage = Callable[[Request, "Services", str | None], Response]
# the page when the directory cannot be asked who the session's person is
UnavailablePage = Callable[[Request, "Services"], Response]


def session_expired_page(request: Request, services: Services, error: str | None) -> Response:
    return error_page(request, status=400, title="session_expired_title", detail="session_expired")


def directory_unavailable_page(request: Request, services: Services) -> Response:
    return error_page(request, status=503, title="err_directory_unavailable_title",
                      detail="err_directory_unavailable")


@dataclass(frozen=True)
class LoginArea:
    """A part of the site behind the SSO login, with the internal client its logins use."""

    prefix: str  # every page of the area starts with it; `next` may only point inside
    client_id: str
    client_name: str
    # True: a browser without a session goes to {prefix}/login?next=… first (the area routes
    # it to `start_login`); False: straight to /authorize
    login_route: bool = True
    failed: FailedLoginPage = session_expired_page
    unavailable: UnavailablePage = directory_unavailable_page

    @property
    def callback_path(self) -> str:
        return self.prefix + "/callback"

    @property
    def state_cookie(self) -> str:
        return "idp_login_state_" + self.prefix.strip("/").replace("/", "_")

    @property
    def csrf_prefix(self) -> str:
        return self.prefix.strip("/").replace("/", "-") + "-csrf:"


@dataclass(frozen=True)
class SignedIn:
    session: SsoSession
    person: Person


def current_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def safe_next(area: LoginArea, value: object) -> str:
    """A path inside the area to come back to; anything else (another site, `//host`, a
    backslash trick, another part of the site) becomes the area's start page."""
    if not isinstance(value, str) or len(value) > MAX_RETURN_PATH or not value.isprintable():
        return area.prefix
    if not (value == area.prefix or value.startswith(area.prefix + "/")
            or value.startswith(area.prefix + "?")) or "\\" in value:
        return area.prefix
    return value


async def ensure_internal_client(services: Services, area: LoginArea) -> None:
    """The area's first-party client (public, PKCE, skip_consent, one redirect URI on the
    current issuer), created on first use; an admin's choice to disable it is left alone."""
    redirect = services.settings.issuer + area.callback_path
    row = await client_cache(services.db).get(area.client_id)
    if row is not None and row.redirect_uris == [redirect]:
        return
    try:
        async with services.db() as db, db.begin():
            row = await db.get(Client, area.client_id)
            if row is None:
                db.add(Client(
                    client_id=area.client_id, name=area.client_name, redirect_uris=[redirect],
                    post_logout_redirect_uris=[], grant_types=["authorization_code"],
                    response_types=["code"], scopes=["openid"], token_endpoint_auth_method="none",
                    skip_consent=True, status="active", extra={"internal": True}))
            else:
                row.redirect_uris = [redirect]
    except IntegrityError:
        pass  # another replica created it at the same moment
    invalidate_client(services.db, area.client_id)


async def login_redirect(request: Request, services: Services, area: LoginArea) -> Response:
    """To the login, remembering the page asked for (GETs only: a form that arrives without a
    session cannot be replayed after the login)."""
    back = current_path(request) if request.method == "GET" else area.prefix
    if not area.login_route:
        return await start_login(request, services, area, back)
    return RedirectResponse(f"{area.prefix}/login?" + urlencode({"next": back}), status_code=303,
                            headers={"Cache-Control": "no-store"})


async def start_login(request: Request, services: Services, area: LoginArea,
                      next_path: object) -> Response:
    """Send the browser through /authorize as the area's client (OIDC Core §3.1.2.1), to come
    back to `next_path` (a path inside the area, else the area's start page)."""
    await ensure_internal_client(services, area)
    state = secrets.token_urlsafe(24)
    await services.store.put(f"area-login:{state}", safe_next(area, next_path), LOGIN_TTL)
    # PKCE is mandatory for public clients; the verifier is not kept: the code is never redeemed
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(secrets.token_urlsafe(32).encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": area.client_id, "scope": "openid",
              "redirect_uri": services.settings.issuer + area.callback_path, "state": state,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    locale = from_ui_locales(request.query_params.get("ui_locales"))
    if locale:
        params["ui_locales"] = locale
    response = RedirectResponse("/authorize?" + urlencode(params), status_code=303,
                                headers={"Cache-Control": "no-store"})
    response.set_cookie(area.state_cookie, state, max_age=LOGIN_TTL, httponly=True, samesite="lax",
                        secure=services.settings.https, path=area.prefix)
    return response


async def finish_login(request: Request, services: Services, area: LoginArea) -> Response:
    """The callback: `state` must be this browser's (login CSRF); then back to the page asked
    for. The code is left alone: the session cookie is what counts, and nobody can redeem it (a
    public client's code is found only with its verifier, which was never kept)."""
    state = request.query_params.get("state") or ""
    cookie = request.cookies.get(area.state_cookie) or ""
    next_path = None
    if state and len(state) <= 64 and hmac.compare_digest(state, cookie):
        next_path = await services.store.take(f"area-login:{state}")
    error = request.query_params.get("error")
    if error or next_path is None:
        return area.failed(request, services, error[:64] if error else None)
    response = RedirectResponse(safe_next(area, next_path), status_code=303)
    response.delete_cookie(area.state_cookie, path=area.prefix)
    return response


async def signed_in(request: Request, services: Services, area: LoginArea) -> SignedIn | Response:
    """The signed-in person and their SSO session, or the response to send instead: the login
    without a session (or for a person no longer active), the area's 503 page when the
    directory cannot be asked."""
    session = await services.sessions.get(session_id(request, services.settings))
    if session is None:
        return await login_redirect(request, services, area)
    try:
        person = await services.directory.by_subject(session.subject)
    except DirectoryUnavailable:
        return area.unavailable(request, services)
    if person is None or person.disabled:
        return await login_redirect(request, services, area)
    return SignedIn(session, person)


# --- CSRF: the browser's token (cookie + hidden field), remembered per SSO session -------------


async def remember_csrf(request: Request, services: Services, area: LoginArea,
                        session: SsoSession) -> tuple[str, bool]:
    """The token to put in this page's forms, and whether its cookie must be set."""
    token, new = csrf.browser_token(request, services.settings)
    key = area.csrf_prefix + session.sid
    if await services.store.get(key) != token:
        await services.store.put(key, token, services.sessions.ttl)
    return token, new


async def csrf_ok(request: Request, services: Services, area: LoginArea, session: SsoSession,
                  submitted: object) -> bool:
    """The form's token is this browser's and was handed out in this SSO session."""
    expected = await services.store.get(area.csrf_prefix + session.sid)
    return csrf.is_valid(request, services.settings, submitted, expected)
