"""Signing in to reach the account page.

As the developer portal does (idp/admin/portal_auth.py), the account page reads the SSO session
cookie directly and only the login itself goes through the protocol: without a session the
browser is sent through /authorize as an internal first-party client, "campus-idp-account"
(public, PKCE, skip_consent, redirect URI {issuer}/account/callback), created on first use. So
the real login page, its throttling, second factor, CSRF, audit and session rotation apply
unchanged, and the engine needs no hook. The callback checks `state` against this browser's
cookie, burns the code (the session cookie is what counts) and returns to the page asked for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import RedirectResponse, Response

from idp.app import Services
from idp.db.models import Client
from idp.deps import ServicesDep
from idp.oauth import ledger
from idp.oauth.clients import client_cache, invalidate_client
from idp.oauth.tokens import token_digest
from idp.web.pages import error_page
from idp.web.unavailable import PageRoute

router = APIRouter(route_class=PageRoute)

ACCOUNT_CLIENT_ID = "campus-idp-account"
CALLBACK_PATH = "/account/callback"
STATE_COOKIE = "idp_account_state"
LOGIN_TTL = 15 * 60


def safe_next(value: str | None) -> str:
    """Only an account page: never another site (open redirect) nor a scheme-relative //host."""
    if (not value or not value.startswith("/account") or value.startswith("//")
            or "\\" in value or not value.isprintable()):
        return "/account"
    return value[:500]


async def ensure_account_client(services: Services) -> None:
    """Create the internal client if missing, and keep its redirect URI on the current issuer."""
    redirect = services.settings.issuer + CALLBACK_PATH
    row = await client_cache(services.db).get(ACCOUNT_CLIENT_ID)
    if row is not None and row.redirect_uris == [redirect]:
        return
    try:
        async with services.db() as db, db.begin():
            row = await db.get(Client, ACCOUNT_CLIENT_ID)
            if row is None:
                db.add(Client(
                    client_id=ACCOUNT_CLIENT_ID, name="我的账号 My account",
                    redirect_uris=[redirect], post_logout_redirect_uris=[],
                    grant_types=["authorization_code"], response_types=["code"],
                    scopes=["openid"], token_endpoint_auth_method="none", skip_consent=True,
                    status="active", extra={"internal": True},
                ))
            else:
                row.redirect_uris = [redirect]
    except IntegrityError:
        pass  # another replica created it at the same moment
    invalidate_client(services.db, ACCOUNT_CLIENT_ID)


async def login_redirect(request: Request, services: Services, return_to: str) -> Response:
    """Send the browser through /authorize as the account client (OIDC Core §3.1.2.1)."""
    await ensure_account_client(services)
    state = secrets.token_urlsafe(24)
    await services.store.put(f"account-login:{state}", safe_next(return_to), LOGIN_TTL)
    # PKCE is mandatory for public clients; the code is burnt at the callback, never redeemed
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(secrets.token_urlsafe(32).encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code", "client_id": ACCOUNT_CLIENT_ID, "scope": "openid",
        "redirect_uri": services.settings.issuer + CALLBACK_PATH, "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    locale = request.query_params.get("ui_locales")
    if locale and len(locale) < 40:
        query["ui_locales"] = locale
    response = RedirectResponse(f"/authorize?{urlencode(query)}", status_code=303,
                                headers={"Cache-Control": "no-store"})
    response.set_cookie(STATE_COOKIE, state, max_age=LOGIN_TTL, httponly=True, samesite="lax",
                        secure=services.settings.https, path="/account")
    return response


@router.get(CALLBACK_PATH)
async def account_callback(request: Request, services: ServicesDep) -> Response:
    state = request.query_params.get("state") or ""
    cookie = request.cookies.get(STATE_COOKIE) or ""
    next_path = None
    if state and len(state) <= 64 and hmac.compare_digest(state, cookie):
        next_path = await services.store.take(f"account-login:{state}")
    code = request.query_params.get("code")
    if code and len(code) <= 512:
        await ledger.take_code(services, token_digest(code))  # single use, and unused
    if request.query_params.get("error") or next_path is None:
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired")
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.delete_cookie(STATE_COOKIE, path="/account")
    return response
