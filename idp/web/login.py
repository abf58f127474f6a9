"""The login page of an signin: GET shows the form, POST checks the password.

The POST is a pipeline of small steps: find the signin, check CSRF, check the form, check
the throttle, ask the directory, then `complete_login`, the one place where a checked password
becomes a signed-in session. An expired or must-change password goes to the change-password
page first (password.py), which comes back to `complete_login` once the directory took the new
password.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from directory.base import (
    DirectoryError,
    DirectoryUnavailable,
    MustChangePassword,
    PasswordExpired,
    Person,
    normalize_username,
)
from idp.http.routing import Router
from idp.services import Services, services_of
from idp.sso.cookie import client_ip, session_id, set_session_cookie
from idp.sso.identities import linked_subjects
from idp.sso.signins import PendingSignIn
from idp.sso.throttle import ALLOWED, LoginThrottle, Verdict
from idp.web import csrf
from idp.web.i18n import Locale, choose_locale
from idp.web.pages import error_page, render
from idp.web.second_factor import second_factor_step
from idp.web.upstream_binding import NOTICE, bind_pending, silent_start, waiting

router = Router(audience="page", include_in_schema=False)

MAX_USERNAME = 256
MAX_PASSWORD = 1024
RETRY_AFTER = "5"  # seconds, as the error policy (server/errors.py) says for every outage

# the person's fault: a message on the form, and an HTTP status for machines and logs
FAILURE_STATUS: dict[str, int] = {
    "invalid_credentials": 401, "account_locked": 403, "account_disabled": 403,
    "password_expired": 403, "must_change_password": 403,
}


def expired_page(request: Request, locale: Locale | None = None) -> Response:
    return error_page(request, status=400, title="interaction_expired_title",
                      detail="interaction_expired", locale=locale)


def throttled_values(verdict: Verdict) -> tuple[dict[str, object], dict[str, str]]:
    """The message values and headers of a refusal: the same for every account (existing or
    not), so a refusal tells nothing but "wait"."""
    return {"minutes": verdict.minutes}, {"Retry-After": str(verdict.retry_after)}


def _login_form(
    request: Request, services: Services, signin: PendingSignIn, *, locale: Locale,
    token: str, username: str | None = None, error: str | None = None, status: int = 200,
    error_values: dict[str, object] | None = None, headers: dict[str, str] | None = None,
) -> Response:
    reason = {
        "prompt_login": "login_reason_prompt_login", "max_age": "login_reason_max_age",
        "id_token_hint": "login_reason_other_user", "other_user": "login_reason_other_user",
    }.get(signin.reason or "")
    prefill = username if username is not None else (signin.login_hint or "")
    # upstream accounts: a button per provider, and the one waiting for its binding, if any
    buttons = [{"url": f"/upstream/{c.name}/start/{signin.id}",
                "label": (c.config.label_zh or c.config.label if locale == "zh"
                          else c.config.label) or c.name}
               for c in services.upstreams.buttons(request.headers.get("user-agent") or "")]
    bind = waiting(services, signin, request)
    binding = None
    if bind is not None:
        config = services.settings.upstream.by_name.get(bind["provider"])
        binding = ((config.label_zh or config.label if locale == "zh" else config.label)
                   or bind["provider"]) if config else bind["provider"]
    return render(
        request, "login.html", locale=locale, status=status, headers=headers,
        title_key="login_title", app_name=signin.app_name or signin.app_id,
        reason=reason, username=prefill[:MAX_USERNAME], error=error, error_values=error_values,
        csrf_token=token, action=f"/login/{signin.id}", upstreams=buttons, binding=binding,
        activation=services.settings.activation.enabled,
    )


@router.get("/login/{signin_id}", fast=True)
async def login_page(request: Request) -> Response:
    # fast (every sign-in passes here): the request alone, the id from its path parameters
    services = services_of(request)
    signin_id = request.path_params["signin_id"]
    settings = services.settings
    signin = await services.signins.get(signin_id)
    if signin is None:
        return expired_page(request)
    if signin.page != "login":
        return RedirectResponse(signin.page_url, status_code=303)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    silent = await silent_start(services, signin, request.headers.get("user-agent") or "")
    if silent is not None:  # inside WeCom / DingTalk / WeChat: no page, straight to it
        return RedirectResponse(silent, status_code=303)
    token, new = csrf.browser_token(request, settings)
    notice = signin.extra.pop(NOTICE, None)  # shown once: from an upstream sign-in
    if notice is not None:
        await services.signins.save(signin)
    await remember_csrf(services, signin, token)
    response = _login_form(request, services, signin, locale=locale, token=token,
                           error=notice if isinstance(notice, str) else None)
    if new:
        csrf.set_cookie(response, token, settings)
    return response


async def remember_csrf(services: Services, signin: PendingSignIn, token: str) -> None:
    """Keep this browser's CSRF token next to the signin (a form is valid only with it)."""
    known = signin.extra.get("csrf")
    if not (isinstance(known, str) and hmac.compare_digest(known.encode(), token.encode())):
        signin.extra["csrf"] = token
        await services.signins.save(signin)


@router.post("/login/{signin_id}", fast=True)
async def login_submit(request: Request) -> Response:
    services = services_of(request)
    signin_id = request.path_params["signin_id"]
    settings = services.settings
    form = await request.form()
    signin = await services.signins.get(signin_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=signin.ui_locales if signin else None)
    if signin is None or signin.page != "login":
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), signin.extra.get("csrf")):
        await services.audit.record("login", "csrf_failed", client_id=signin.app_id, ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    token = signin.extra["csrf"]
    raw_username, password = form.get("username"), form.get("password")
    username = normalize_username(raw_username)[:MAX_USERNAME] if isinstance(
        raw_username, str) else ""
    password = password if isinstance(password, str) else ""

    def again(error: str, status: int, **extra: Any) -> Response:
        return _login_form(request, services, signin, locale=locale, token=token,
                           username=username, error=error, status=status, **extra)

    # an empty password is an unauthenticated bind that LDAP answers with success
    # (LDAP-PITFALLS 1): refuse it here, before the directory or the throttle see it
    if not username or not password:
        return again("err_empty_fields", 400)
    if len(password) > MAX_PASSWORD:
        password = password[:MAX_PASSWORD + 1]  # still wrong, without hashing a megabyte

    audit: dict[str, Any] = {"actor": username, "client_id": signin.app_id, "ip": ip}
    throttle = LoginThrottle.of(services)
    verdict = ALLOWED
    try:
        # counted against the entry the name finds: a search, no bind (sso/throttle.py)
        verdict = await throttle.check(username, ip)
        if not verdict.allowed:
            await services.audit.record("login", "throttled", **audit)
            values, headers = throttled_values(verdict)
            return again("err_throttled", 429, error_values=values, headers=headers)
        person = await services.directory.authenticate(username, password)
    except DirectoryUnavailable as exc:
        # our fault, never the person's: the attempt is given back, so an outage uses up no
        # one's budget. Answered here rather than by the error policy so that the page speaks
        # the language the sign-in asked for
        await throttle.refund(verdict)
        await services.audit.record("login", exc.kind, reason=exc.detail or str(exc), **audit)
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail="err_directory_unavailable", locale=locale,
                          headers={"Retry-After": RETRY_AFTER})
    except (PasswordExpired, MustChangePassword) as exc:
        # the directory says so only to the right password: a new one is chosen first
        await throttle.succeeded(verdict)
        await services.audit.record("login", exc.kind, reason=exc.detail or str(exc), **audit)
        return await start_password_change(services, signin, username, exc.kind)
    except DirectoryError as exc:
        await throttle.failed(ip)
        await services.audit.record("login", exc.kind, reason=exc.detail or str(exc), **audit)
        kind = exc.kind if exc.kind in FAILURE_STATUS else "invalid_credentials"
        return again(f"err_{kind}", FAILURE_STATUS[kind])

    await throttle.succeeded(verdict)
    if person.as_of is not None:
        # the directory was out of reach: the password was checked against the last one it
        # accepted (directory/last_known.py), and the audit log says so
        await services.audit.record("login", "offline", **(audit | {"actor": person.username}),
                                    subject=person.subject, as_of=int(person.as_of))
    else:
        await services.audit.record("login", "success", **(audit | {"actor": person.username}),
                                    subject=person.subject)
    return await complete_login(request, services, signin, person)


async def start_password_change(services: Services, signin: PendingSignIn, username: str,
                                reason: str) -> Response:
    """Send the browser to the change-password page of this signin. The username comes
    from here (server side), never from that page's form."""
    signin.extra["password_change"] = {"username": username, "reason": reason}
    await services.signins.save(signin)
    return RedirectResponse(f"/password/{signin.id}", status_code=303)


async def complete_login(request: Request, services: Services, signin: PendingSignIn,
                         person: Person, *, amr: list[str] | None = None) -> Response:
    """The one place a checked password (or a bound upstream account, amr ["fed"]) turns into
    a signed-in session. A second factor, where one is required, belongs here, before
    `finish_login` (which the factor's page then calls)."""
    notice = person.notice
    if notice is not None and (notice.expires_in is not None or notice.grace_logins is not None):
        # kept in the signin, so that it survives the second-factor page on the way
        signin.extra["password_notice"] = {"expires_in": notice.expires_in,
                                                "grace_logins": notice.grace_logins}
    else:
        signin.extra.pop("password_notice", None)
    second_factor = await second_factor_step(request, services, signin, person, amr=amr)
    if second_factor is not None:
        return second_factor  # the factor's page (idp/web/mfa.py) calls finish_login
    return await finish_login(request, services, signin, person, amr=amr)


async def finish_login(request: Request, services: Services, signin: PendingSignIn,
                       person: Person, *, amr: list[str] | None = None,
                       acr: str | None = None) -> Response:
    """Rotate the session, remember it in the signin, and hand the browser back to the
    engine (or first to the password-expiry notice, when the directory sent one). An upstream
    account waiting for its binding is bound here, once everything asked of the person has
    been proven."""
    if amr is None or "fed" not in amr:
        await bind_pending(request, services, signin, person)
    sid = await _start_session(request, services, person, amr=amr, acr=acr)
    signin.sid = sid
    signin.extra["login_at"] = int(time.time())
    signin.extra.pop("password_change", None)
    target = signin.resume
    if signin.extra.get("password_notice"):
        signin.extra["password_change"] = {"username": person.username, "reason": "expiring"}
        target = f"/password/{signin.id}/notice"
    await services.signins.save(signin)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, sid, services.settings)
    return response


async def _start_session(request: Request, services: Services, person: Person, *,
                         amr: list[str] | None = None, acr: str | None = None) -> str:
    """A new session id at every login (session fixation). Apps signed into by the old
    session stay with the same person; another person's old session is logged out everywhere."""
    old_sid = session_id(request, services.settings)
    old = await services.sessions.get(old_sid)
    carried: set[str] = set()
    if old is not None and old_sid:
        if old.subject == person.subject:
            carried = await services.sessions.clients(old_sid)
        else:
            await services.logout.end(old_sid, reason="another_login")
    session = await services.sessions.create(
        subject=person.subject, username=person.username, ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:300] or None, replaces=old_sid,
        amr=amr, acr=acr, identities=await linked_subjects(services, person),
    )
    for client_id in carried:
        await services.sessions.add_client(session.sid, client_id)
    return session.sid
