"""The second-factor page of a login: /mfa/{signin_id}.

GET shows what the person has (authenticator app code, passkey, recovery code), or, when a
factor is required and none is enrolled, the authenticator app enrolment (QR code) on the spot.
POST checks one answer: a wrong one counts toward a per-person limit (attempts.py); a right one
makes the session (flow.complete) and hands the browser back to the engine.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.http.routing import Router
from idp.mfa import attempts, recovery, totp
from idp.mfa import webauthn as passkeys
from idp.mfa.factors import Factors, factors_of
from idp.mfa.policy import ACR_MFA
from idp.mfa.secretbox import SecretUnreadable, seal, unseal
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip, session_id
from idp.sso.signins import PendingSignIn
from idp.web import csrf, mfa_text  # noqa: F401  (mfa_text: registers the page strings)
from idp.web.i18n import Locale, choose_locale
from idp.web.login import expired_page, finish_login
from idp.web.pages import render
from idp.web.second_factor import Method, Pending, record_success, step_up_pending

router = Router(audience="page")

MAX_CODE = 64


def _app_name(signin: PendingSignIn) -> str:
    return signin.app_name or signin.app_id


async def _pending_for(request: Request, services: Services, signin: PendingSignIn,
                       token: str) -> Pending | None:
    """The pending second factor of this signin, if this browser may answer it."""
    pending = Pending.of(signin)
    if pending is None and signin.reason == "mfa" and signin.page == "login":
        # step-up: the engine sent a signed-in browser here directly
        session = await services.sessions.get(session_id(request, services.settings))
        if session is None:
            return None
        pending = step_up_pending(signin, session)
        pending.browser = token
        pending.save_to(signin)
        await services.signins.save(signin)
    if pending is None or not hmac.compare_digest(pending.browser or "", token or ""):
        return None
    if pending.mode == "step_up":
        session = await services.sessions.get(session_id(request, services.settings))
        if session is None or session.sid != pending.sid:
            return None
    return pending


async def _page(request: Request, services: Services, signin: PendingSignIn, pending: Pending,
                *, locale: Locale, token: str, factors: Factors, error: str | None = None,
                status: int = 200) -> Response:
    common = {"locale": locale, "status": status, "app_name": _app_name(signin),
              "error": error, "csrf_token": token, "action": f"/mfa/{signin.id}"}
    if pending.proven:
        # enrolled and proven: only "continue" is left (the codes were shown once already)
        return render(request, "mfa_codes.html", codes=[], continue_post=True, **common)
    if not factors.any:
        if pending.enrol_secret is None:
            pending.enrol_secret = seal(services.settings, totp.new_secret(),
                                        subject=pending.subject)
            pending.save_to(signin)
            await services.signins.save(signin)
        secret = unseal(services.settings, pending.enrol_secret, subject=pending.subject)
        uri = totp.provisioning_uri(secret, account=pending.username,
                                    issuer=services.settings.site.campus_name)
        return render(request, "mfa_enrol.html", qr=totp.qr_data_uri(uri),
                      secret=totp.base32(secret), required=True, **common)
    options = None
    if factors.passkeys:
        options = await passkeys.authentication_options(services, pending.subject, signin.id)
    reason = {"client": "mfa_reason_client", "group": "mfa_reason_group",
              "acr_values": "mfa_reason_acr_values"}.get(pending.why)
    if pending.mode == "step_up":
        reason = "mfa_reason_step_up"
    return render(request, "mfa.html", totp=factors.totp, passkey_options=options,
                  recovery=factors.recovery_codes > 0, reason=reason, **common)


@router.get("/mfa/{signin_id}")
async def mfa_page(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    signin = await services.signins.get(signin_id)
    if signin is None:
        return expired_page(request)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    token, new = csrf.browser_token(request, settings)
    pending = await _pending_for(request, services, signin, token)
    if pending is None:
        if Pending.of(signin) is None:
            # nobody passed the password here yet (or a step-up whose session has ended)
            return RedirectResponse(f"/login/{signin.id}", status_code=303)
        return expired_page(request, locale)
    if signin.extra.get("csrf") != token:
        signin.extra["csrf"] = token
        await services.signins.save(signin)
    response = await _page(request, services, signin, pending, locale=locale, token=token,
                           factors=await factors_of(services.engine, pending.subject))
    if new:
        csrf.set_cookie(response, token, settings)
    return response


async def _check(services: Services, signin: PendingSignIn, pending: Pending, factors: Factors,
                 method: str, code: str, credential: str) -> tuple[Method | None, list[str] | None]:
    """(the amr method proven or None, recovery codes to show once after an enrolment)."""
    db, settings, subject = services.db, services.settings, pending.subject
    if method == "totp" and factors.totp:
        return ("otp" if await totp.verify(db, settings, subject, code) else None), None
    if method == "recovery" and factors.recovery_codes:
        return ("otp" if await recovery.spend(db, subject, code) else None), None
    if method == "passkey" and factors.passkeys:
        try:
            await passkeys.authenticate(services, subject, signin.id, credential)
        except passkeys.PasskeyError:
            return None, None
        return "hwk", None
    if method == "enrol" and not factors.any and pending.enrol_secret:
        try:
            secret = unseal(settings, pending.enrol_secret, subject=subject)
        except SecretUnreadable:
            return None, None
        step = totp.matching_step(secret, code)
        if step is None:
            return None, None
        await totp.save(db, settings, subject, secret, step)
        return "otp", await recovery.regenerate(db, subject)
    return None, None


@router.post("/mfa/{signin_id}")
async def mfa_submit(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    signin = await services.signins.get(signin_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=signin.ui_locales if signin else None)
    if signin is None:
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), signin.extra.get("csrf")):
        await services.audit.record("mfa", "csrf_failed", client_id=signin.app_id, ip=ip)
        return expired_page(request, locale)
    token = signin.extra["csrf"]
    pending = await _pending_for(request, services, signin, token)
    if pending is None:
        return expired_page(request, locale)
    factors = await factors_of(services.engine, pending.subject)

    def field(name: str) -> str:
        value = form.get(name)
        return value[:passkeys.MAX_RESPONSE] if isinstance(value, str) else ""

    method = field("method")
    if await attempts.blocked(services.store, pending.subject, settings.mfa.max_failures):
        await services.audit.record("mfa", "throttled", actor=pending.username, ip=ip,
                                    client_id=signin.app_id)
        return await _page(request, services, signin, pending, locale=locale, token=token,
                           factors=factors, error="mfa_err_throttled", status=429)
    if method == "continue" and pending.proven:
        return await _finish(request, services, signin, pending, "otp", locale)
    proven, codes = await _check(services, signin, pending, factors, method,
                                 field("code")[:MAX_CODE], field("credential"))
    if proven is None:
        # a cancelled passkey prompt is not a guess; everything else counts
        if not field("credential").startswith("error:"):
            await attempts.failed(services.store, pending.subject)
        await services.audit.record("mfa", "failed", actor=pending.username, ip=ip,
                                    client_id=signin.app_id, method=method[:20])
        error = "mfa_err_passkey" if method == "passkey" else "mfa_err_wrong_code"
        return await _page(request, services, signin, pending, locale=locale, token=token,
                           factors=factors, error=error, status=401)
    if codes is not None:
        # a new authenticator app: its recovery codes are shown once, then "continue" signs in
        pending.proven = proven
        pending.save_to(signin)
        await services.signins.save(signin)
        return render(request, "mfa_codes.html", locale=locale, codes=codes, continue_post=True,
                      csrf_token=token, action=f"/mfa/{signin.id}")
    return await _finish(request, services, signin, pending, proven, locale)


async def _finish(request: Request, services: Services, signin: PendingSignIn,
                  pending: Pending, method: Method, locale: Locale) -> Response:
    person = await services.directory.by_subject(pending.subject)
    if person is None or person.disabled:
        return expired_page(request, locale)
    amr = await record_success(request, services, signin, pending, method)
    return await finish_login(request, services, signin, person, amr=amr, acr=ACR_MFA)
