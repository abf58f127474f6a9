"""The change-password page of an signin, and the password-expiry notice.

GET  /password/{id}         the form: current password, the new one twice, CSRF
POST /password/{id}         the directory changes it (`Directory.change_password`: RFC 3062 on
                            OpenLDAP, unicodePwd on AD), then the login goes on where it stopped
GET  /password/{id}/notice  after a successful sign-in whose bind carried timeBeforeExpiration or
                            graceAuthNsRemaining (ppolicy §6.2): continue, or change now

Two ways in, both set by the login step (login.py) in `signin.extra["password_change"]`:
- "password_expired" / "must_change_password": the directory refused the right password until
  it is changed. No session exists yet; after the change the login completes (`complete_login`).
- "expiring": the person signed in, saw the notice and chose to change. The session exists and
  must be this signin's; after the change the engine resumes.
Which account is always the username the login step stored, never a form field, so the page
cannot be turned into a password oracle for other accounts; each attempt also passes the login
throttle, because checking the current password is a password guess like any other.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from directory.base import (
    DirectoryError,
    DirectoryUnavailable,
    InvalidCredentials,
    PasswordExpired,
    PasswordRejected,
    Person,
)
from idp.http.routing import Router
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip, session_id
from idp.sso.signins import PendingSignIn
from idp.sso.throttle import ALLOWED, LoginThrottle
from idp.web import csrf
from idp.web.i18n import Locale, choose_locale
from idp.web.login import (
    MAX_PASSWORD,
    RETRY_AFTER,
    complete_login,
    expired_page,
    remember_csrf,
    throttled_values,
)
from idp.web.pages import error_page, render

router = Router(audience="page", include_in_schema=False)

REASONS = ("password_expired", "must_change_password", "expiring")


def _pending(signin: PendingSignIn | None) -> dict[str, str] | None:
    state = signin.extra.get("password_change") if signin else None
    if isinstance(state, dict) and state.get("reason") in REASONS and state.get("username"):
        return state
    return None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


async def _signed_in_here(request: Request, services: Services, signin: PendingSignIn) -> bool:
    """The browser holds the session this signin's login created."""
    sid = session_id(request, services.settings)
    if not sid or not signin.sid or not _same(sid, signin.sid):
        return False
    return await services.sessions.get(sid) is not None


def _form(request: Request, signin: PendingSignIn, state: dict[str, str], *, locale: Locale,
          token: str, error: str | None = None, status: int = 200,
          error_values: dict[str, object] | None = None,
          headers: dict[str, str] | None = None) -> Response:
    return render(request, "password.html", locale=locale, status=status, headers=headers,
                  username=state["username"], reason=f"password_reason_{state['reason']}",
                  error=error, error_values=error_values, csrf_token=token,
                  action=f"/password/{signin.id}")


@router.get("/password/{signin_id}")
async def password_page(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    signin = await services.signins.get(signin_id)
    state = _pending(signin)
    if signin is None or state is None:
        return expired_page(request)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    if state["reason"] == "expiring" and not await _signed_in_here(request, services, signin):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    token, new = csrf.browser_token(request, settings)
    await remember_csrf(services, signin, token)
    response = _form(request, signin, state, locale=locale, token=token)
    if new:
        csrf.set_cookie(response, token, settings)
    return response


@router.post("/password/{signin_id}")
async def password_submit(signin_id: str, request: Request,
                          services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    signin = await services.signins.get(signin_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=signin.ui_locales if signin else None)
    state = _pending(signin)
    if signin is None or state is None:
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), signin.extra.get("csrf")):
        await services.audit.record("password", "csrf_failed", client_id=signin.app_id,
                                    ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    if state["reason"] == "expiring" and not await _signed_in_here(request, services, signin):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    username = state["username"]
    fields = [form.get(name) for name in ("current_password", "new_password", "new_password_again")]
    current, new, repeated = (value if isinstance(value, str) else "" for value in fields)

    def again(error: str, status: int, **extra: Any) -> Response:
        return _form(request, signin, state, locale=locale, token=signin.extra["csrf"],
                     error=error, status=status, **extra)

    if not current or not new:
        return again("err_password_fields", 400)
    if len(current) > MAX_PASSWORD or len(new) > MAX_PASSWORD:
        return again("err_password_quality", 400)
    if not _same(new, repeated):
        return again("err_password_mismatch", 400)
    if _same(new, current):
        return again("err_password_same", 400)

    audit: dict[str, Any] = {"actor": username, "client_id": signin.app_id, "ip": ip}
    throttle = LoginThrottle.of(services)
    verdict = ALLOWED
    try:
        verdict = await throttle.check(username, ip)
        if not verdict.allowed:
            await services.audit.record("password", "throttled", **audit)
            values, headers = throttled_values(verdict)
            return again("err_throttled", 429, error_values=values, headers=headers)
        await services.directory.change_password(username, current, new)
    except InvalidCredentials as exc:
        await throttle.failed(ip)
        await services.audit.record("password", exc.kind, reason=exc.detail or str(exc), **audit)
        return again("err_current_password_wrong", 401)
    except PasswordRejected as exc:
        await throttle.succeeded(verdict)  # the policy is only consulted for the right password
        await services.audit.record("password", "rejected", reason=exc.detail or exc.reason, **audit)
        return again(f"err_password_{exc.reason}", 400)
    except PasswordExpired as exc:
        await services.audit.record("password", exc.kind, reason=exc.detail or str(exc), **audit)
        return error_page(request, status=403, title="password_title",
                          detail="err_password_expired_no_change", locale=locale)
    except DirectoryUnavailable as exc:
        await throttle.refund(verdict)  # not the person's fault: the attempt does not count
        await services.audit.record("password", exc.kind, reason=exc.detail or str(exc), **audit)
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail="err_directory_unavailable", locale=locale,
                          headers={"Retry-After": RETRY_AFTER})
    except DirectoryError as exc:  # locked or disabled meanwhile
        await services.audit.record("password", exc.kind, reason=exc.detail or str(exc), **audit)
        kind = exc.kind if exc.kind in ("account_locked", "account_disabled") else "invalid_credentials"
        return again(f"err_{kind}", 403)

    await throttle.succeeded(verdict)
    await services.audit.record("password", "changed", **audit)
    person = await services.directory.find(username)
    if person is None:  # renamed or removed in the instant since the change
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    # what the old password opened ends, except this browser's session when the change was
    # made from one (the "expiring" notice); the login this page completes comes after it
    await services.revocation.revoke(person.subject, reason="password_change",
                                     actor=person.username,
                                     keep=signin.sid if state["reason"] == "expiring" else None)
    return await _continue(request, services, signin, state, person)


async def _continue(request: Request, services: Services, signin: PendingSignIn,
                    state: dict[str, str], person: Person) -> Response:
    """Back to where the login stopped: the engine (a change by choice), or the rest of the
    login for a password the directory would not accept before."""
    signin.extra.pop("password_change", None)
    signin.extra.pop("password_notice", None)
    if state["reason"] == "expiring":
        await services.signins.save(signin)
        return RedirectResponse(signin.resume, status_code=303)
    return await complete_login(request, services, signin, person)


@router.get("/password/{signin_id}/notice")
async def expiry_notice(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    signin = await services.signins.get(signin_id)
    notice = signin.extra.get("password_notice") if signin else None
    if signin is None or not isinstance(notice, dict):
        return expired_page(request)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    if not await _signed_in_here(request, services, signin):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    grace, expires_in = notice.get("grace_logins"), notice.get("expires_in")
    if isinstance(grace, int):
        title, message, values = "notice_grace_title", "notice_grace", {"count": grace}
    else:
        days = max(1, -(-int(expires_in or 0) // 86400))
        title, message, values = "notice_title", "notice_expires_in", {"days": days}
    return render(request, "password_notice.html", locale=locale, title=title, message=message,
                  values=values, continue_to=signin.resume,
                  change_url=f"/password/{signin.id}")
