"""QR sign-in, the phone's side: the page a scanned code opens (/qr/{code}).

The phone must be signed in (its own SSO session): when it is not, it signs in first through the
ordinary login page (a PendingSignIn of protocol "qr" that resumes at /qr/{code}/back/{id}) and
comes back. The first phone session to open a code claims it; the page then shows which device
asks (browser and system from its User-Agent), from where (its address), when, for which app
and as whom, with "confirm" and "refuse" (a form with this browser's CSRF token).

Confirming continues the PC's pending sign-in as this phone's person. Where the app requires a
second factor (the same rule as a password login: the app's require_mfa, the person's groups,
the request's acr_values), the phone's session must have proven one within
IDP_MFA_STEP_UP_SECONDS; otherwise the confirmation goes through the second-factor page first
(a step-up of the phone's session, as the account page's "sudo mode" does) and is made when it
resumes here. The PC's session gets the phone session's amr plus "mca" (RFC 8176: a sign-in over
more than one channel).
"""

from __future__ import annotations

import hmac
import time

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from directory.base import Person
from idp.http.routing import Router
from idp.mfa.factors import login_facts
from idp.mfa.policy import mfa_requirement, recent_enough
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip, session_id
from idp.sso.qr_logins import Device, QrLogin, digest
from idp.sso.sessions import SsoSession
from idp.web import csrf
from idp.web.devices import device_summary
from idp.web.i18n import Locale, choose_locale, text
from idp.web.pages import error_page, render
from idp.web.qr_login import NO_STORE, agent_of, qr_logins

router = Router(audience="page", include_in_schema=False)

PHONE_APP_ID = "campus-idp-qr"  # the phone's own sign-in (no app: it only opens the confirmation)
MULTI_CHANNEL = "mca"


def _gone(request: Request, locale: Locale) -> Response:
    return error_page(request, status=400, title="qr_gone_title", detail="qr_gone", locale=locale)


def _when(created_at: int, now: float | None = None) -> tuple[str, dict[str, object]]:
    minutes = int(((now or time.time()) - created_at) // 60)
    return ("qr_when_now", {}) if minutes < 1 else ("qr_when_minutes", {"minutes": minutes})


async def _audit(services: Services, outcome: str, qr: QrLogin, request: Request,
                 person: Person | None = None) -> None:
    """Every step names both devices: the PC that showed the code and the phone that acts."""
    await services.audit.record(
        "qr", outcome, actor=person.username if person else None, client_id=qr.app_id,
        ip=client_ip(request), subject=person.subject if person else None,
        device=device_summary(agent_of(request)), user_agent=agent_of(request)[:300],
        pc_ip=qr.pc.ip, pc_device=device_summary(qr.pc.agent), pc_user_agent=qr.pc.agent)


async def _sign_in_first(services: Services, code: str, locale: Locale) -> Response:
    signin = await services.signins.start(
        protocol="qr", resume=f"/qr/{code}/back/{{id}}", page="login", app_id=PHONE_APP_ID,
        app_name=text("qr_phone_app", locale), scopes=[], request={}, ui_locales=locale,
        extra={"qr": code})
    return RedirectResponse(signin.page_url, status_code=303, headers=NO_STORE)


def _page(request: Request, qr: QrLogin, person: Person, locale: Locale, *,
          token: str | None = None, done: str | None = None, status: int = 200) -> Response:
    when, when_values = _when(qr.created_at)
    return render(request, "qr_confirm.html", locale=locale, status=status, title_key="qr_confirm",
                  app_name=qr.app_name, device=device_summary(qr.pc.agent), ip=qr.pc.ip,
                  when=when, when_values=when_values, user=person.name or person.username,
                  username=person.username, csrf_token=token, action=f"/qr/{qr.code}",
                  done=done)


async def _signed_in(request: Request, services: Services) -> tuple[SsoSession, Person] | None:
    session = await services.sessions.get(session_id(request, services.settings))
    if session is None:
        return None
    person = await services.directory.by_subject(session.subject)
    if person is None or person.disabled:
        return None
    return session, person


@router.get("/qr/{code}")
async def confirm_page(code: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    locale = choose_locale(request, settings.site.default_locale)
    logins = qr_logins(services)
    qr = await logins.get(code)
    if qr is None:
        return _gone(request, locale)
    who = await _signed_in(request, services)
    if who is None:
        if qr.state != "waiting":
            return _gone(request, locale)
        return await _sign_in_first(services, qr.code, locale)
    session, person = who
    first = qr.state == "waiting"
    if not await logins.scan(qr, sid=session.sid, phone=Device(client_ip(request),
                                                                 agent_of(request))):
        # another phone has it, or it has just expired
        return error_page(request, status=409, title="qr_taken_title", detail="qr_taken",
                          locale=locale)
    if first:
        await _audit(services, "scanned", qr, request, person)
    if qr.state != "scanned":
        return _page(request, qr, person, locale, done=f"qr_done_{qr.state}")
    token, new = csrf.browser_token(request, settings)
    await logins.remember_csrf(qr, token)
    response = _page(request, qr, person, locale, token=token)
    if new:
        csrf.set_cookie(response, token, settings)
    return response


async def _factor_wanted(services: Services, qr: QrLogin, session: SsoSession,
                         person: Person) -> bool | None:
    """Whether the phone must prove a second factor before confirming (None: the PC's sign-in
    is gone). The password login's rule, checked against the app the PC signs in to."""
    signin = await services.signins.get(qr.signin_id)
    if signin is None:
        return None
    client_extra, _ = await login_facts(services.engine, qr.app_id, person.subject)
    why = mfa_requirement(services.settings, client_extra=client_extra, person=person,
                          acr_values=signin.acr_values)
    if why is None:
        return False
    return not recent_enough(age=session.age(), amr=session.amr, acr=session.acr, enrolled=True,
                             window=services.settings.mfa.step_up_seconds)


async def _confirm(request: Request, services: Services, qr: QrLogin, session: SsoSession,
                   person: Person, locale: Locale) -> Response:
    amr = [m for m in session.amr if m != MULTI_CHANNEL] + [MULTI_CHANNEL]
    if not await qr_logins(services).confirm(qr, subject=person.subject,
                                             username=person.username, amr=amr):
        return _gone(request, locale)
    await _audit(services, "confirmed", qr, request, person)
    return _page(request, qr, person, locale, done="qr_done_confirmed")


@router.post("/qr/{code}")
async def confirm_submit(code: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    locale = choose_locale(request, settings.site.default_locale, form=form)
    logins = qr_logins(services)
    qr = await logins.get(code)
    who = await _signed_in(request, services)
    if qr is None:
        return _gone(request, locale)
    if who is None or not qr.scanned_by(who[0].sid):
        return error_page(request, status=403, title="qr_taken_title", detail="qr_taken",
                          locale=locale)
    session, person = who
    if not csrf.is_valid(request, settings, form.get("csrf"), qr.phone_csrf):
        await _audit(services, "csrf_failed", qr, request, person)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    if qr.state != "scanned":
        return _page(request, qr, person, locale, done=f"qr_done_{qr.state}")
    action = form.get("action")
    if action == "refuse":
        if not await logins.refuse(qr):
            return _gone(request, locale)
        await _audit(services, "refused", qr, request, person)
        return _page(request, qr, person, locale, done="qr_done_refused")
    if action != "confirm":
        return error_page(request, status=400, title="qr_bad_action_title", detail="qr_bad_action",
                          locale=locale)
    wanted = await _factor_wanted(services, qr, session, person)
    if wanted is None:
        return _gone(request, locale)
    if wanted:
        step_up = await services.signins.start(
            protocol="qr", resume=f"/qr/{qr.code}/back/{{id}}", page="login", app_id=qr.app_id,
            app_name=qr.app_name, scopes=[], request={}, ui_locales=locale, reason="mfa",
            extra={"qr": qr.code, "confirm": True, "phone_session": digest(session.sid)})
        await _audit(services, "factor_asked", qr, request, person)
        return RedirectResponse(step_up.page_url, status_code=303, headers=NO_STORE)
    return await _confirm(request, services, qr, session, person, locale)


@router.get("/qr/{code}/back/{signin_id}")
async def signed_in_back(code: str, signin_id: str, request: Request,
                         services: ServicesDep) -> Response:
    """Where the phone's own sign-in (or its second factor) resumes: taken once, and only by
    the session it made."""
    locale = choose_locale(request, services.settings.site.default_locale)
    signin = await services.signins.take(signin_id)
    who = await _signed_in(request, services)
    if (signin is None or signin.protocol != "qr" or signin.extra.get("qr") != code
            or who is None or signin.sid != who[0].sid):
        return RedirectResponse(f"/qr/{code}", status_code=303, headers=NO_STORE)
    if not signin.extra.get("confirm"):
        return RedirectResponse(f"/qr/{code}", status_code=303, headers=NO_STORE)
    session, person = who
    logins = qr_logins(services)
    qr = await logins.get(code)
    # the step-up gave the phone a new session id: the code moves to it, from the one that
    # claimed it (and pressed "confirm") only
    claimed = signin.extra.get("phone_session")
    if qr is None or qr.state != "scanned" or not isinstance(claimed, str) or not \
            hmac.compare_digest(qr.phone_session or "", claimed):
        return _gone(request, locale)
    qr.phone_session = digest(session.sid)
    if await _factor_wanted(services, qr, session, person):
        return _gone(request, locale)  # not proven after all (the pages would not get here)
    return await _confirm(request, services, qr, session, person, locale)
