"""The end_session_endpoint: OpenID Connect RP-Initiated Logout 1.0.

GET or POST /logout with id_token_hint, client_id, post_logout_redirect_uri, state, ui_locales.
A valid hint for the person signed in here (expired hints are fine, §2: the OP "SHOULD accept"
them) signs out at once; anything less asks the person first, so a third-party page cannot sign
people out. A post-logout redirect happens only to a URI registered for the client identified,
compared exactly (§3).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.http.routing import Router
from idp.keys.ring import InvalidToken
from idp.services import Services, ServicesDep
from idp.sso.apps import get_client
from idp.sso.cookie import clear_session_cookie, session_id
from idp.sso.sessions import SsoSession
from idp.web import csrf
from idp.web.i18n import Locale, choose_locale
from idp.web.pages import error_page, render

router = Router(audience="page")

CONFIRM_TTL = 10 * 60
MAX_PARAM = 4096


@dataclass
class LogoutRequest:
    hint: dict[str, Any] | None  # the claims of a trustworthy id_token_hint
    client_id: str | None
    client_name: str | None
    redirect_to: str | None  # a registered post_logout_redirect_uri, or None
    unregistered: bool  # a URI was asked for that is not registered: no redirect
    state: str | None


def _param(params: Any, name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) and value and len(value) <= MAX_PARAM else None


def _trusted_hint(services: Services, token: str | None) -> dict[str, Any] | None:
    """The hint's claims if we signed it for this issuer. Expiry is not checked: the RP usually
    holds an ID token long expired when the person clicks "sign out"."""
    if not token:
        return None
    try:
        _, claims = services.keys.verify(token)
    except (InvalidToken, ValueError):
        return None
    if claims.get("iss") != services.settings.issuer or not isinstance(claims.get("sub"), str):
        return None
    return claims


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(
        aud, list) else []


def with_state(uri: str, state: str | None) -> str:
    if not state:
        return uri
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode({"state": state})) if q)
    return urlunsplit(parts._replace(query=query))


async def _parse(services: Services, params: Any) -> LogoutRequest | str:
    """The request, or the catalogue key of why it is refused."""
    hint = _trusted_hint(services, _param(params, "id_token_hint"))
    client_id = _param(params, "client_id")
    if hint is not None:
        audiences = _audiences(hint)
        if client_id and client_id not in audiences:
            return "logout_client_mismatch"  # §2: client_id must match the hint's audience
        azp = hint.get("azp")
        client_id = client_id or (azp if isinstance(azp, str) else None) or (
            audiences[0] if len(audiences) == 1 else None)
    client = await get_client(services.db, client_id) if client_id else None
    uri = _param(params, "post_logout_redirect_uri")
    registered = client is not None and uri is not None and uri in client.post_logout_redirect_uris
    return LogoutRequest(
        hint=hint, client_id=client.client_id if client else None,
        client_name=client.name if client else None, redirect_to=uri if registered else None,
        unregistered=uri is not None and not registered, state=_param(params, "state"),
    )


def _finish(request: Request, services: Services, wanted: LogoutRequest, locale: Locale,
            *, status: int = 303) -> Response:
    if wanted.redirect_to:
        response: Response = RedirectResponse(with_state(wanted.redirect_to, wanted.state),
                                              status_code=status)
    else:
        query = {"ui_locales": locale} | ({"unregistered": "1"} if wanted.unregistered else {})
        response = RedirectResponse(f"/logout/done?{urlencode(query)}", status_code=status)
    clear_session_cookie(response, services.settings)
    return response


@router.api_route("/logout", methods=["GET", "POST"], include_in_schema=False)
async def end_session(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    params: Any = request.query_params
    if request.method == "POST":
        params = await request.form()
        if "confirm_id" in params:
            return await _confirmed(request, services, params)
    locale = choose_locale(request, settings.site.default_locale, form=params,
                           ui_locales=_param(params, "ui_locales"))
    wanted = await _parse(services, params)
    if isinstance(wanted, str):
        return error_page(request, status=400, title=f"{wanted}_title", detail=wanted,
                          locale=locale)
    sid = session_id(request, settings)
    session = await services.sessions.get(sid)
    if wanted.hint is not None and session is None:
        # a cross-site POST from the RP arrives without our SameSite=Lax cookie: the hint's
        # sid still names the session to end
        sid, session = await _hinted_session(services, wanted.hint)
    if wanted.hint is not None and (session is None
                                    or services.sessions.holds(session, wanted.hint["sub"])):
        if session is not None and sid:
            await services.logout.end(sid, reason="rp_initiated")
        return _finish(request, services, wanted, locale)
    return await _confirmation_page(request, services, wanted, locale)


async def _hinted_session(
    services: Services, hint: dict[str, Any],
) -> tuple[str | None, SsoSession | None]:
    hinted_sid = hint.get("sid")
    if not isinstance(hinted_sid, str):
        return None, None
    session = await services.sessions.get(hinted_sid)
    if session is None or not services.sessions.holds(session, hint["sub"]):
        return None, None
    return hinted_sid, session


async def _confirmation_page(
    request: Request, services: Services, wanted: LogoutRequest, locale: Locale,
) -> Response:
    settings = services.settings
    token, new = csrf.browser_token(request, settings)
    confirm_id = secrets.token_urlsafe(24)
    # what was asked is kept here, not in hidden fields the page could be made to change
    await services.store.put(f"logout-confirm:{confirm_id}", json.dumps({
        "csrf": token, "client_id": wanted.client_id, "redirect_to": wanted.redirect_to,
        "unregistered": wanted.unregistered, "state": wanted.state,
    }), CONFIRM_TTL)
    response = render(request, "logout.html", locale=locale, app_name=wanted.client_name,
                      csrf_token=token, confirm_id=confirm_id)
    if new:
        csrf.set_cookie(response, token, settings)
    return response


async def _confirmed(request: Request, services: Services, form: Any) -> Response:
    settings = services.settings
    locale = choose_locale(request, settings.site.default_locale, form=form)
    confirm_id = _param(form, "confirm_id") or ""
    raw = await services.store.take(f"logout-confirm:{confirm_id[:64]}")
    saved = json.loads(raw) if raw else None
    if saved is None or not csrf.is_valid(request, settings, form.get("csrf"), saved["csrf"]):
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    sid = session_id(request, settings)
    if sid and await services.sessions.get(sid) is not None:
        await services.logout.end(sid, reason="confirmed")
    wanted = LogoutRequest(hint=None, client_id=saved["client_id"], client_name=None,
                           redirect_to=saved["redirect_to"], unregistered=saved["unregistered"],
                           state=saved["state"])
    return _finish(request, services, wanted, locale)


@router.get("/logout/done")
async def signed_out(request: Request, services: ServicesDep) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    return render(request, "signed_out.html", locale=locale,
                  unregistered=request.query_params.get("unregistered") == "1")
