"""The login page of an interaction: GET shows the form, POST checks the password.

The POST is a pipeline of small steps: find the interaction, check CSRF, check the form, check
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
from idp.sso.logout import logout_session
from idp.sso.signins import Interaction
from idp.sso.throttle import LoginThrottle, Verdict
from idp.web import csrf
from idp.web.cookies import client_ip, session_id, set_session_cookie
from idp.web.i18n import Locale, choose_locale
from idp.web.pages import error_page, render
from idp.web.second_factor import second_factor_step

router = Router(audience="page", include_in_schema=False)

MAX_USERNAME = 256
MAX_PASSWORD = 1024

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
    request: Request, services: Services, interaction: Interaction, *, locale: Locale,
    token: str, username: str | None = None, error: str | None = None, status: int = 200,
    error_values: dict[str, object] | None = None, headers: dict[str, str] | None = None,
) -> Response:
    reason = {
        "prompt_login": "login_reason_prompt_login", "max_age": "login_reason_max_age",
        "id_token_hint": "login_reason_other_user", "other_user": "login_reason_other_user",
    }.get(interaction.reason or "")
    prefill = username if username is not None else (interaction.login_hint or "")
    return render(
        request, "login.html", locale=locale, status=status, headers=headers,
        title_key="login_title", app_name=interaction.client_name or interaction.client_id,
        reason=reason, username=prefill[:MAX_USERNAME], error=error, error_values=error_values,
        csrf_token=token, action=f"/login/{interaction.id}",
    )


@router.get("/login/{interaction_id}", fast=True)
async def login_page(request: Request) -> Response:
    # fast (every sign-in passes here): the request alone, the id from its path parameters
    services = services_of(request)
    interaction_id = request.path_params["interaction_id"]
    settings = services.settings
    interaction = await services.interactions.get(interaction_id)
    if interaction is None:
        return expired_page(request)
    if interaction.prompt == "consent":
        return RedirectResponse(f"/consent/{interaction.id}", status_code=303)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=interaction.ui_locales)
    token, new = csrf.browser_token(request, settings)
    await remember_csrf(services, interaction, token)
    response = _login_form(request, services, interaction, locale=locale, token=token)
    if new:
        csrf.set_cookie(response, token, settings)
    return response


async def remember_csrf(services: Services, interaction: Interaction, token: str) -> None:
    """Keep this browser's CSRF token next to the interaction (a form is valid only with it)."""
    known = interaction.extra.get("csrf")
    if not (isinstance(known, str) and hmac.compare_digest(known.encode(), token.encode())):
        interaction.extra["csrf"] = token
        await services.interactions.save(interaction)


@router.post("/login/{interaction_id}", fast=True)
async def login_submit(request: Request) -> Response:
    services = services_of(request)
    interaction_id = request.path_params["interaction_id"]
    settings = services.settings
    form = await request.form()
    interaction = await services.interactions.get(interaction_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=interaction.ui_locales if interaction else None)
    if interaction is None or interaction.prompt != "login":
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), interaction.extra.get("csrf")):
        await services.audit.record("login", "csrf_failed", client_id=interaction.client_id, ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    token = interaction.extra["csrf"]
    raw_username, password = form.get("username"), form.get("password")
    username = normalize_username(raw_username)[:MAX_USERNAME] if isinstance(
        raw_username, str) else ""
    password = password if isinstance(password, str) else ""

    def again(error: str, status: int, **extra: Any) -> Response:
        return _login_form(request, services, interaction, locale=locale, token=token,
                           username=username, error=error, status=status, **extra)

    # an empty password is an unauthenticated bind that LDAP answers with success
    # (LDAP-PITFALLS 1): refuse it here, before the directory or the throttle see it
    if not username or not password:
        return again("err_empty_fields", 400)
    if len(password) > MAX_PASSWORD:
        password = password[:MAX_PASSWORD + 1]  # still wrong, without hashing a megabyte

    audit: dict[str, Any] = {"actor": username, "client_id": interaction.client_id, "ip": ip}
    throttle = LoginThrottle.of(services)
    verdict = await throttle.check(username, ip)
    if not verdict.allowed:
        await services.audit.record("login", "throttled", **audit)
        values, headers = throttled_values(verdict)
        return again("err_throttled", 429, error_values=values, headers=headers)
    try:
        person = await services.directory.authenticate(username, password)
    except DirectoryUnavailable as exc:
        await services.audit.record("login", exc.kind, reason=exc.detail or str(exc), **audit)
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail="err_directory_unavailable", locale=locale)
    except (PasswordExpired, MustChangePassword) as exc:
        # the directory says so only to the right password: a new one is chosen first
        await throttle.succeeded(username)
        await services.audit.record("login", exc.kind, reason=exc.detail or str(exc), **audit)
        return await start_password_change(services, interaction, username, exc.kind)
    except DirectoryError as exc:
        await throttle.failed(ip)
        await services.audit.record("login", exc.kind, reason=exc.detail or str(exc), **audit)
        kind = exc.kind if exc.kind in FAILURE_STATUS else "invalid_credentials"
        return again(f"err_{kind}", FAILURE_STATUS[kind])

    await throttle.succeeded(username)
    await services.audit.record("login", "success", **(audit | {"actor": person.username}),
                                subject=person.subject)
    return await complete_login(request, services, interaction, person)


async def start_password_change(services: Services, interaction: Interaction, username: str,
                                reason: str) -> Response:
    """Send the browser to the change-password page of this interaction. The username comes
    from here (server side), never from that page's form."""
    interaction.extra["password_change"] = {"username": username, "reason": reason}
    await services.interactions.save(interaction)
    return RedirectResponse(f"/password/{interaction.id}", status_code=303)


async def complete_login(request: Request, services: Services, interaction: Interaction,
                         person: Person) -> Response:
    """The one place a checked password turns into a signed-in session. A second factor, where
    one is required, belongs here, before `finish_login` (which the factor's page then calls)."""
    notice = person.notice
    if notice is not None and (notice.expires_in is not None or notice.grace_logins is not None):
        # kept in the interaction, so that it survives the second-factor page on the way
        interaction.extra["password_notice"] = {"expires_in": notice.expires_in,
                                                "grace_logins": notice.grace_logins}
    else:
        interaction.extra.pop("password_notice", None)
    second_factor = await second_factor_step(request, services, interaction, person)
    if second_factor is not None:
        return second_factor  # the factor's page (idp/web/mfa.py) calls finish_login
    return await finish_login(request, services, interaction, person)


async def finish_login(request: Request, services: Services, interaction: Interaction,
                       person: Person, *, amr: list[str] | None = None,
                       acr: str | None = None) -> Response:
    """Rotate the session, remember it in the interaction, and hand the browser back to the
    engine (or first to the password-expiry notice, when the directory sent one)."""
    sid = await _start_session(request, services, person, amr=amr, acr=acr)
    interaction.sid = sid
    interaction.extra["login_at"] = int(time.time())
    interaction.extra.pop("password_change", None)
    target = f"/authorize/resume/{interaction.id}"
    if interaction.extra.get("password_notice"):
        interaction.extra["password_change"] = {"username": person.username, "reason": "expiring"}
        target = f"/password/{interaction.id}/notice"
    await services.interactions.save(interaction)
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
            await logout_session(services, old_sid, reason="another_login")
    session = await services.sessions.create(
        subject=person.subject, username=person.username, ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:300] or None, replaces=old_sid,
        amr=amr, acr=acr,
    )
    for client_id in carried:
        await services.sessions.add_client(session.sid, client_id)
    return session.sid
