"""Who may use the admin surfaces, and how they prove it.

- The admin REST API takes Bearer access tokens that campus-idp itself issued (RFC 9068 JWTs,
  RFC 6750 §2.1) carrying the scope `idp:admin`, for a person who is *still* a member of the
  admin group (settings.access.admin_group) when the call is made. The engine grants the scope
  only to members of that group (`admin_scope_allowed`); checking membership again here means a
  person removed from the group loses the API at once, and a client_credentials token (no person)
  never passes.
- The console is behind the SSO login: `require_person` returns the signed-in person, or the
  response that gets them there. It reads the SSO session cookie directly; only the *login* goes
  through the protocol, as the developer portal's does (idp/admin/portal_auth.py): the browser is
  sent through /authorize as an internal first-party client of the area (public, PKCE,
  skip_consent), so the real login page, throttle, CSRF, audit and session rotation are reused
  with no hook in the engine; the callback checks `state`, burns the code and returns to the
  page asked for. `LoginArea` makes that reusable by any part of the site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import DirectoryUnavailable, Person
from idp.db.models import Client
from idp.keys import InvalidToken
from idp.oauth import ledger, person_scopes
from idp.oauth.clients import client_cache, invalidate_client
from idp.oauth.ledger import is_jti_revoked
from idp.oauth.tokens import token_digest
from idp.sessions import SsoSession
from idp.web.cookies import session_id
from idp.web.i18n import choose_locale, from_ui_locales
from idp.web.pages import error_page

if TYPE_CHECKING:
    from idp.app import Services
    from idp.settings import Settings

ADMIN_SCOPE = "idp:admin"
ADMIN_API_AUDIENCE_PATH = "/admin/api"
MAX_RETURN_PATH = 2000
LOGIN_TTL = 15 * 60
REALM = "campus-idp admin"

LOGIN_FAILED: dict[str, dict[str, str]] = {
    "title": {"zh": "登录未完成", "en": "Sign-in was not completed"},
    "detail": {
        "zh": "登录没有完成（{error}）。请重新打开管理页面再试。",
        "en": "The sign-in did not complete ({error}). Open the admin page again and retry.",
    },
}
FORBIDDEN: dict[str, dict[str, str]] = {
    "title": {"zh": "无权访问", "en": "Access denied"},
    "detail": {
        "zh": "此页面仅对“{group}”组的成员开放。如需访问，请联系信息中心服务台。",
        "en": "This page is open to members of the group “{group}” only. Ask the IT service "
              "desk if you need access.",
    },
}


def admin_scope_allowed(person: Person, settings: Settings) -> bool:
    """Whether `idp:admin` may be granted to this person (the engine's rule, in one place)."""
    return person_scopes.may_have(person_scopes.ADMIN_SCOPE, person, settings)


# --- the admin API: bearer tokens ------------------------------------------------------------


class BearerProblem(Exception):
    """Why a bearer request is refused: 401 (no or bad token) or 403 (not an admin)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def challenge(self) -> str:
        """The WWW-Authenticate value (RFC 6750 §3): a bare challenge when no token was sent."""
        if self.error == "invalid_request":
            return f'Bearer realm="{REALM}"'
        scope = f', scope="{ADMIN_SCOPE}"' if self.error == "insufficient_scope" else ""
        return f'Bearer realm="{REALM}", error="{self.error}"{scope}'


@dataclass(frozen=True)
class AdminPrincipal:
    """An admin API caller: the person behind the token and the app that holds it."""

    person: Person
    client_id: str | None
    claims: dict[str, Any]


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


async def authenticate_bearer(services: Services, token: str | None) -> AdminPrincipal:
    """The admin behind a bearer access token, or BearerProblem."""
    settings = services.settings
    if not token:
        raise BearerProblem(401, "invalid_request", "an access token is required")
    try:
        _, claims = services.keys.verify_claims(token, issuer=settings.issuer, typ="at+jwt")
    except InvalidToken as exc:
        raise BearerProblem(401, "invalid_token", f"the access token is not valid: {exc}") from None
    jti = claims.get("jti")
    if not isinstance(jti, str) or await is_jti_revoked(services, jti):
        raise BearerProblem(401, "invalid_token", "the access token was revoked")
    # RFC 9068 §4: the token must be meant for us, not for some other resource server
    ours = {settings.issuer + ADMIN_API_AUDIENCE_PATH, settings.issuer + "/userinfo"}
    if not ours & set(_audiences(claims)):
        raise BearerProblem(401, "invalid_token", "the access token is not meant for this API")
    scopes = str(claims.get("scope") or "").split()
    if ADMIN_SCOPE not in scopes:
        raise BearerProblem(403, "insufficient_scope", f"the token lacks the scope {ADMIN_SCOPE}")
    subject = claims.get("sub")
    person = await services.directory.by_subject(subject) if isinstance(subject, str) else None
    if person is None or person.disabled:
        raise BearerProblem(403, "insufficient_scope", "the token does not belong to an active person")
    if not admin_scope_allowed(person, settings):
        raise BearerProblem(403, "insufficient_scope",
                            f"{person.username} is not a member of {settings.access.admin_group}")
    client_id = claims.get("client_id")
    return AdminPrincipal(person, client_id if isinstance(client_id, str) else None, claims)


# --- the console (and any other page of the IdP's own): the SSO session -----------------------


@dataclass(frozen=True)
class LoginArea:
    """A part of the site behind the SSO login, with the internal client its logins use."""

    prefix: str  # every page of the area starts with it; `next` may only point inside
    client_id: str
    client_name: str

    @property
    def callback_path(self) -> str:
        return self.prefix + "/callback"

    @property
    def state_cookie(self) -> str:
        return "idp_login_state_" + self.prefix.strip("/").replace("/", "_")


CONSOLE = LoginArea("/admin", "campus-idp-admin", "统一身份认证管理 · Campus login administration")


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


def login_redirect(request: Request, area: LoginArea) -> Response:
    """To the area's login start, remembering the page asked for (GETs only: a form that
    arrives without a session cannot be replayed after the login)."""
    back = current_path(request) if request.method == "GET" else area.prefix
    return RedirectResponse(f"{area.prefix}/login?" + urlencode({"next": back}), status_code=303,
                            headers={"Cache-Control": "no-store"})


async def start_login(request: Request, services: Services, area: LoginArea) -> Response:
    """Send the browser through /authorize as the area's client (OIDC Core §3.1.2.1): the real
    login page, its throttle, CSRF, audit and session rotation, with no hook in the engine."""
    await ensure_internal_client(services, area)
    state = secrets.token_urlsafe(24)
    await services.store.put(f"area-login:{state}", safe_next(area, request.query_params.get("next")),
                             LOGIN_TTL)
    # PKCE is mandatory for public clients; the code is burnt at the callback, never redeemed
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
    """The callback: `state` must be this browser's (login CSRF); the code is burnt (the
    session cookie is what counts); then back to the page asked for."""
    state = request.query_params.get("state") or ""
    cookie = request.cookies.get(area.state_cookie) or ""
    next_path = None
    if state and len(state) <= 64 and hmac.compare_digest(state, cookie):
        next_path = await services.store.take(f"area-login:{state}")
    code = request.query_params.get("code")
    if code and len(code) <= 512:
        await ledger.take_code(services, token_digest(code))  # single use, and unused
    error = request.query_params.get("error")
    if error or next_path is None:
        locale = choose_locale(request, services.settings.site.default_locale)
        detail = LOGIN_FAILED["detail"][locale].format(error=(error or "state")[:64])
        return error_page(request, status=400, title=LOGIN_FAILED["title"][locale],
                          detail=detail, locale=locale)
    response = RedirectResponse(safe_next(area, next_path), status_code=303)
    response.delete_cookie(area.state_cookie, path=area.prefix)
    return response


def current_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


@dataclass(frozen=True)
class SignedIn:
    session: SsoSession
    person: Person


async def require_person(request: Request, services: Services, group: str | None,
                         area: LoginArea = CONSOLE) -> SignedIn | Response:
    """The signed-in person (a member of `group`, when given) and their SSO session, or the
    response to send instead: the login without a session, a 403 page for someone outside the
    group, a 503 page when the directory cannot be asked. First thing in every console page:

        who = await require_person(request, services, settings.access.admin_group)
        if isinstance(who, Response):
            return who
    """
    settings = services.settings
    session = await services.sessions.get(session_id(request, settings))
    if session is None:
        return login_redirect(request, area)
    try:
        person = await services.directory.by_subject(session.subject)
    except DirectoryUnavailable:
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail="err_directory_unavailable")
    if person is None or person.disabled:
        return login_redirect(request, area)
    if group is not None and group not in person.groups:
        locale = choose_locale(request, settings.site.default_locale)
        return error_page(request, status=403, title=FORBIDDEN["title"][locale],
                          detail=FORBIDDEN["detail"][locale].format(group=group), locale=locale)
    return SignedIn(session, person)
