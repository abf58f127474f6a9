"""QR sign-in, the PC's side: the "scan to sign in" tab of a login, its long poll, and the
redemption that finishes the sign-in once a phone confirmed it (the phone's side:
qr_confirm.py; the record: idp/sso/qr_logins.py).

- GET  /login/{signin_id}/qr      the tab: a QR code (SVG, drawn here) of the phone's URL
- POST /login/{signin_id}/qr/new  a fresh code when the shown one expired or was refused (JSON)
- GET  /qr/{code}/wait?seen=S     long poll: answers once the code's state is no longer S,
                                  or after WAIT_SECONDS (JSON {"state": ...})
- POST /qr/{code}/redeem          the confirmed code, taken once: the sign-in continues as
                                  the person who confirmed, through `finish_login`

Only the browser that showed the code may wait on it or redeem it: it holds a random secret in
a cookie of its own (QR_COOKIE), whose digest the code keeps. Someone who photographs the code
learns its URL, not that secret, so a confirmation can only ever sign in the PC that showed it.
"""

from __future__ import annotations

import secrets

import segno
from fastapi import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from idp.http.long_poll import hold
from idp.http.routing import Router
from idp.mfa.policy import acr_for
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip
from idp.sso.qr_logins import Device, QrLogin, QrLogins, offers_qr
from idp.sso.signins import PendingSignIn
from idp.web import csrf, qr_text  # noqa: F401  (qr_text: registers the page strings)
from idp.web.devices import device_summary
from idp.web.i18n import choose_locale
from idp.web.login import expired_page, finish_login, remember_csrf
from idp.web.pages import error_page, render

router = Router(audience="page", include_in_schema=False)

WAIT_SECONDS = 25.0  # one long poll, well below the usual proxy read timeouts (60 s)
STATES = ("waiting", "scanned", "confirmed", "refused")
NO_STORE = {"Cache-Control": "no-store"}


def qr_logins(services: Services) -> QrLogins:
    return QrLogins(services.store, services.settings.qr.ttl)


def cookie_name(services: Services) -> str:
    return "__Host-idp_qr" if services.settings.https else "idp_qr"


def browser_secret(request: Request, services: Services) -> str | None:
    value = request.cookies.get(cookie_name(services))
    return value if value and len(value) <= 64 else None


def phone_url(services: Services, code: str) -> str:
    return f"{services.settings.issuer}/qr/{code}"


def agent_of(request: Request) -> str:
    return request.headers.get("user-agent") or ""


def _image(url: str) -> str:
    # error level M, as the authenticator enrolment's: readable from a screen at arm's length
    return segno.make(url, error="m", micro=False).svg_data_uri(scale=6, border=2)


async def _usable(services: Services, signin_id: str) -> PendingSignIn | None:
    """The pending sign-in a QR code may finish: one that asks for a login."""
    signin = await services.signins.get(signin_id)
    if signin is None or not offers_qr(services.settings, signin):
        return None
    return signin


async def _new_code(request: Request, services: Services, signin: PendingSignIn,
                    secret: str) -> QrLogin:
    qr = await qr_logins(services).start(
        signin_id=signin.id, browser_secret=secret, app_id=signin.app_id,
        app_name=signin.app_name or signin.app_id, pc=Device(client_ip(request), agent_of(request)))
    # behind: showing a code decides nothing (a page left open shows one every IDP_QR_TTL)
    await services.audit.record_behind("qr", "shown", client_id=signin.app_id,
                                       ip=client_ip(request),
                                       device=device_summary(agent_of(request)))
    return qr


def _described(services: Services, qr: QrLogin) -> dict[str, object]:
    return {"code": qr.code, "url": phone_url(services, qr.code), "image": _image(
        phone_url(services, qr.code)), "wait": f"/qr/{qr.code}/wait",
        "redeem": f"/qr/{qr.code}/redeem", "expires_in": qr.seconds_left()}


@router.get("/login/{signin_id}/qr")
async def qr_page(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    signin = await _usable(services, signin_id)
    if signin is None:
        return expired_page(request)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    token, new_token = csrf.browser_token(request, settings)
    await remember_csrf(services, signin, token)
    secret = browser_secret(request, services)
    new_secret = secret is None
    if secret is None:
        secret = secrets.token_urlsafe(32)
    qr = await _new_code(request, services, signin, secret)
    response = render(request, "qr_login.html", locale=locale, title_key="qr_tab",
                      app_name=signin.app_name or signin.app_id, csrf_token=token,
                      password_tab=f"/login/{signin.id}", qr_tab=f"/login/{signin.id}/qr",
                      fresh=f"/login/{signin.id}/qr/new", valid_for=qr.lifetime,
                      **_described(services, qr))
    if new_token:
        csrf.set_cookie(response, token, settings)
    if new_secret:
        # Strict: only this site's own pages ever send it (the poll and the redemption)
        response.set_cookie(cookie_name(services), secret, httponly=True, samesite="strict",
                            secure=settings.https, path="/")
    return response


@router.post("/login/{signin_id}/qr/new", audience="api")
async def qr_fresh(signin_id: str, request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    signin = await _usable(services, signin_id)
    if signin is None:
        return JSONResponse({"error": "expired"}, status_code=400, headers=NO_STORE)
    secret = browser_secret(request, services)
    if secret is None or not csrf.is_valid(request, services.settings, form.get("csrf"),
                                           signin.extra.get("csrf")):
        await services.audit.record("qr", "csrf_failed", client_id=signin.app_id,
                                    ip=client_ip(request))
        return JSONResponse({"error": "forbidden"}, status_code=403, headers=NO_STORE)
    qr = await _new_code(request, services, signin, secret)
    return JSONResponse(_described(services, qr), headers=NO_STORE)


@router.get("/qr/{code}/wait", audience="api")
async def qr_wait(code: str, request: Request, services: ServicesDep) -> Response:
    seen = request.query_params.get("seen") or "waiting"
    if seen not in STATES:
        return JSONResponse({"error": "invalid_request", "error_description": "seen: one of "
                             + ", ".join(STATES)}, status_code=400, headers=NO_STORE)
    logins = qr_logins(services)
    qr = await logins.get(code)
    if qr is not None and not qr.held_by(browser_secret(request, services)):
        return JSONResponse({"error": "forbidden"}, status_code=403, headers=NO_STORE)
    if qr is not None:
        changed, found = await hold(request, logins.wait_change(code, seen, WAIT_SECONDS))
        # stopped early (the server is shutting down): the state as it is, asked again soon
        qr = found if changed else await logins.get(code)
    if qr is None:
        return JSONResponse({"state": "expired"}, headers=NO_STORE)
    return JSONResponse({"state": qr.state, "expires_in": qr.seconds_left()}, headers=NO_STORE)


@router.post("/qr/{code}/redeem")
async def qr_redeem(code: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    logins = qr_logins(services)
    ip = client_ip(request)
    qr = await logins.get(code)
    signin = await services.signins.get(qr.signin_id) if qr is not None else None
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=signin.ui_locales if signin else None)
    if qr is None or signin is None:
        return expired_page(request, locale)
    if not qr.held_by(browser_secret(request, services)):
        # the code's URL reached another browser (a photograph): it signs nobody in
        await services.audit.record("qr", "wrong_browser", client_id=qr.app_id, ip=ip,
                                    device=device_summary(agent_of(request)))
        return error_page(request, status=403, title="qr_wrong_browser_title",
                          detail="qr_wrong_browser", locale=locale)
    if not csrf.is_valid(request, settings, form.get("csrf"), signin.extra.get("csrf")):
        await services.audit.record("qr", "csrf_failed", client_id=qr.app_id, ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    if qr.state != "confirmed":
        return RedirectResponse(f"/login/{signin.id}/qr", status_code=303, headers=NO_STORE)
    taken = await logins.take(code)
    if taken is None or taken.state != "confirmed" or taken.subject is None:
        return expired_page(request, locale)  # redeemed a moment ago (another tab, a replay)
    person = await services.directory.by_subject(taken.subject)
    if person is None or person.disabled:
        return expired_page(request, locale)
    phone = taken.phone or Device("?")
    await services.audit.record(
        "qr", "signed_in", actor=person.username, subject=person.subject,
        client_id=taken.app_id, ip=ip, device=device_summary(agent_of(request)),
        user_agent=agent_of(request)[:300], phone_ip=phone.ip,
        phone_device=device_summary(phone.agent), phone_user_agent=phone.agent, amr=taken.amr)
    return await finish_login(request, services, signin, person, amr=taken.amr,
                              acr=acr_for(taken.amr))
