"""The consent page of an signin: which app, which scopes, and what each one releases. For a
device sign-in (RFC 8628) it is also the confirmation: the code the device shows, and where and
when the request came from, so the person can tell their own device from someone else's."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.http.routing import Router
from idp.services import ServicesDep
from idp.sso.cookie import client_ip, session_id
from idp.web import csrf
from idp.web.i18n import choose_locale
from idp.web.login import expired_page
from idp.web.pages import error_page, render
from idp.web.scopes import describe

router = Router(audience="page")


@router.get("/consent/{signin_id}")
async def consent_page(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    signin = await services.signins.get(signin_id)
    if signin is None:
        return expired_page(request)
    if signin.page == "login":
        return RedirectResponse(f"/login/{signin.id}", status_code=303)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    session = await services.sessions.get(session_id(request, settings))
    if session is None or (signin.sid and signin.sid != session.sid):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    token, new = csrf.browser_token(request, settings)
    if signin.extra.get("csrf") != token:
        signin.extra["csrf"] = token
        await services.signins.save(signin)
    response = render(
        request, "consent.html", locale=locale, app_name=signin.app_name,
        user=session.username, scopes=describe(signin.scopes, locale), csrf_token=token,
        action=f"/consent/{signin.id}", device=_device(signin.extra.get("device")),
    )
    if new:
        csrf.set_cookie(response, token, settings)
    return response


@router.post("/consent/{signin_id}")
async def consent_submit(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    signin = await services.signins.get(signin_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=signin.ui_locales if signin else None)
    if signin is None or signin.page != "consent":
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), signin.extra.get("csrf")):
        await services.audit.record("consent", "csrf_failed", client_id=signin.app_id,
                                    ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    session = await services.sessions.get(session_id(request, settings))
    # the consent belongs to the session the engine saw (signin.sid), not to whoever
    # signed in since in this browser
    if session is None or (signin.sid and signin.sid != session.sid):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    allowed = form.get("decision") == "allow"
    if allowed:
        signin.granted_scopes = list(signin.scopes)
    else:
        signin.denied = True
    # the engine checks at resume that the browser's session is still this person's
    signin.extra["consent_subject"] = session.subject
    await services.signins.save(signin)
    await services.audit.record(
        "consent", "granted" if allowed else "denied", actor=session.username,
        client_id=signin.app_id, ip=ip, scopes=signin.scopes,
    )
    return RedirectResponse(signin.resume, status_code=303)


def _device(device: Any) -> dict[str, str] | None:
    """What the confirmation shows of a device sign-in (set by the protocol when it parked it)."""
    if not isinstance(device, dict):
        return None
    issued = device.get("issued_at")
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(issued)) if isinstance(issued, int) else ""
    return {"user_code": str(device.get("user_code") or ""), "ip": str(device.get("ip") or "?"),
            "time": when}
