"""Who is using the developer portal, and how they get signed in.

Design: the portal is part of the IdP, so it reads the SSO session cookie directly
(sessions.get -> directory.by_subject -> groups) instead of holding tokens of its own. Only the
*login* goes through the protocol: without a session the browser is sent through /authorize as
an internal first-party client, "campus-idp-portal" (public, PKCE, skip_consent, redirect URI
{issuer}/portal/callback), created on first use. That reuses the real login page, its
throttling, CSRF, audit and session rotation unchanged, and needs no hook in the engine or the
web UI (an Interaction's resume always runs the authorization endpoint, so it can only end at a
client's redirect URI). The callback checks `state`, burns the code (nothing needs the tokens:
the session cookie is now set) and returns to the page the person asked for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import DirectoryUnavailable, Person
from idp.admin.portal_render import portal_error
from idp.app import Services
from idp.db.models import Client
from idp.oauth import ledger
from idp.oauth.clients import client_cache, invalidate_client
from idp.oauth.tokens import token_digest
from idp.sessions import SsoSession
from idp.web import csrf
from idp.web.cookies import session_id

PORTAL_CLIENT_ID = "campus-idp-portal"
CALLBACK_PATH = "/portal/callback"
STATE_COOKIE = "idp_portal_state"
LOGIN_TTL = 15 * 60


@dataclass(frozen=True)
class Developer:
    session: SsoSession
    person: Person
    is_admin: bool

    @property
    def subject(self) -> str:
        return self.person.subject


def callback_uri(services: Services) -> str:
    return services.settings.issuer + CALLBACK_PATH


async def ensure_portal_client(services: Services) -> None:
    """Create the internal client if missing, and keep its redirect URI on the current issuer.
    An admin may disable it; that choice is left alone."""
    redirect = callback_uri(services)
    row = await client_cache(services.db).get(PORTAL_CLIENT_ID)
    if row is not None and row.redirect_uris == [redirect]:
        return
    try:
        async with services.db() as db, db.begin():
            row = await db.get(Client, PORTAL_CLIENT_ID)
            if row is None:
                db.add(Client(
                    client_id=PORTAL_CLIENT_ID, name="开发者门户 Developer portal",
                    redirect_uris=[redirect], post_logout_redirect_uris=[],
                    grant_types=["authorization_code"], response_types=["code"],
                    scopes=["openid"], token_endpoint_auth_method="none", skip_consent=True,
                    status="active", extra={"internal": True},
                ))
            else:
                row.redirect_uris = [redirect]
    except IntegrityError:
        pass  # another replica created it at the same moment
    invalidate_client(services.db, PORTAL_CLIENT_ID)


def _safe_next(value: str | None) -> str:
    """Only a portal path: never another site (open redirect) nor a scheme-relative //host."""
    if not value or not value.startswith("/portal") or value.startswith("//") or "\\" in value:
        return "/portal"
    return value[:500]


def login_redirect(request: Request) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/portal/login?" + urlencode({"next": path}), status_code=303,
                            headers={"Cache-Control": "no-store"})


async def start_login(request: Request, services: Services) -> Response:
    """Send the browser through /authorize as the portal client (OIDC Core §3.1.2.1)."""
    await ensure_portal_client(services)
    state = secrets.token_urlsafe(24)
    await services.store.put(f"portal-login:{state}",
                             _safe_next(request.query_params.get("next")), LOGIN_TTL)
    # PKCE is mandatory for public clients; the code is burnt at the callback, never redeemed
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(secrets.token_urlsafe(32).encode()).digest()).rstrip(b"=").decode()
    query = urlencode({
        "response_type": "code", "client_id": PORTAL_CLIENT_ID, "scope": "openid",
        "redirect_uri": callback_uri(services), "state": state, "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    response = RedirectResponse(f"/authorize?{query}", status_code=303,
                                headers={"Cache-Control": "no-store"})
    response.set_cookie(STATE_COOKIE, state, max_age=LOGIN_TTL, httponly=True, samesite="lax",
                        secure=services.settings.https, path="/portal")
    return response


async def finish_login(request: Request, services: Services) -> Response:
    """/portal/callback: state must be this browser's; then back to the page asked for."""
    state = request.query_params.get("state") or ""
    cookie = request.cookies.get(STATE_COOKIE) or ""
    next_path = None
    if state and len(state) <= 64 and hmac.compare_digest(state, cookie):
        next_path = await services.store.take(f"portal-login:{state}")
    code = request.query_params.get("code")
    if code and len(code) <= 512:
        await ledger.take_code(services, token_digest(code))  # single use, and unused
    error = request.query_params.get("error")
    if error:
        return portal_error(request, services.settings, status=400,
                            title="portal_login_failed_title", detail="portal_login_failed",
                            error=error[:64])
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.delete_cookie(STATE_COOKIE, path="/portal")
    return response


async def current_developer(request: Request, services: Services) -> Developer | Response:
    """The signed-in developer, or the response to send instead: a login redirect without a
    session, a readable 403 for people outside the developer and admin groups."""
    settings = services.settings
    session = await services.sessions.get(session_id(request, settings))
    if session is None:
        return login_redirect(request)
    try:
        person = await services.directory.by_subject(session.subject)
    except DirectoryUnavailable:
        return portal_error(request, settings, status=503,
                            title="err_directory_unavailable_title",
                            detail="err_directory_unavailable")
    if person is None or person.disabled:
        return login_redirect(request)
    access = settings.access
    is_admin = access.admin_group in person.groups
    if not is_admin and access.developer_group not in person.groups:
        return portal_error(request, settings, status=403, title="portal_forbidden_title",
                            detail="portal_forbidden", group=access.developer_group)
    return Developer(session=session, person=person, is_admin=is_admin)


# --- CSRF: the browser's token (cookie + hidden field), remembered per SSO session -------------


def _csrf_key(developer: Developer) -> str:
    return f"portal-csrf:{developer.session.sid}"


async def csrf_token(request: Request, services: Services,
                     developer: Developer) -> tuple[str, bool]:
    """The token to put in this page's forms, and whether the cookie must be set."""
    token, new = csrf.browser_token(request, services.settings)
    key = _csrf_key(developer)
    if await services.store.get(key) != token:
        await services.store.put(key, token, services.sessions.ttl)
    return token, new


async def csrf_ok(request: Request, services: Services, developer: Developer,
                  submitted: object) -> bool:
    expected = await services.store.get(_csrf_key(developer))
    return csrf.is_valid(request, services.settings, submitted, expected)
