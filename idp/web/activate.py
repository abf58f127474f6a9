"""/activate: people marked "to activate" (idp/db/activation.py) set their first password.

GET  /activate           the facts form: login name and each fact of IDP_ACTIVATION_FACTS
POST /activate           CSRF, every field given, the login throttle (per account and per client
                         address, the same counters as logins: any guess about an account uses
                         the one budget), the facts compared (activation.py), then: wrong facts
                         or nobody -> the same answer; right facts but no mark -> "already
                         active, sign in or reset"; right facts and the mark -> the password step,
                         carrying a ticket bound to this browser
POST /activate/password  the new password twice and an e-mail or phone for recovery (kept where
                         the password reset finds them: the directory's mail / phone); the
                         directory's policy judges the password; success takes the mark

Off (404 page) while IDP_ACTIVATION_FACTS is empty. Every outcome is audited as "activation".
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from starlette.responses import Response

from directory.base import (
    DirectoryError,
    DirectoryUnavailable,
    InvalidCredentials,
    NoSuchEntry,
    PasswordRejected,
    normalize_username,
)
from idp.db.activation import ActivationMarks
from idp.http.routing import Router
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip
from idp.sso.throttle import ALLOWED, LoginThrottle
from idp.web import activation, csrf
from idp.web.activation_text import fact_label
from idp.web.i18n import Locale, choose_locale
from idp.web.login import MAX_PASSWORD, MAX_USERNAME, RETRY_AFTER, throttled_values
from idp.web.pages import error_page, render

router = Router(audience="page", include_in_schema=False)
log = logging.getLogger("idp.activation")

KIND = "activation"


def _page(request: Request, services: Services, template: str, *, locale: Locale,
          status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
    token, new = csrf.browser_token(request, services.settings)
    response = render(request, template, locale=locale, status=status, headers=headers,
                      csrf_token=token, **context)
    if new:
        csrf.set_cookie(response, token, services.settings)
    return response


def _csrf_ok(request: Request, services: Services, form: Any) -> bool:
    # double submit: the hidden field repeats this browser's HttpOnly cookie; the password step
    # also needs a ticket issued to this very cookie
    cookie = request.cookies.get(csrf.cookie_name(services.settings))
    return csrf.is_valid(request, services.settings, form.get("csrf"), cookie)


def _off(request: Request, locale: Locale) -> Response:
    return error_page(request, status=404, title="activate_off_title", detail="activate_off",
                      locale=locale)


def _unavailable(request: Request, locale: Locale) -> Response:
    return error_page(request, status=503, title="err_directory_unavailable_title",
                      detail="err_directory_unavailable", locale=locale,
                      headers={"Retry-After": RETRY_AFTER})


def _already(request: Request, locale: Locale) -> Response:
    return render(request, "activate_done.html", locale=locale, status=409,
                  title="activate_already_title", message="activate_already", forgot=True)


def _facts_form(request: Request, services: Services, *, locale: Locale, username: str = "",
                typed: dict[str, str] | None = None, error: str | None = None, status: int = 200,
                error_values: dict[str, object] | None = None,
                headers: dict[str, str] | None = None) -> Response:
    config = services.settings.activation
    fields = [{"name": f"fact_{i}", "label": fact_label(config, attribute, locale),
               "value": (typed or {}).get(attribute, "")}
              for i, attribute in enumerate(config.facts)]
    return _page(request, services, "activate.html", locale=locale, status=status,
                 headers=headers, username=username, fields=fields, error=error,
                 error_values=error_values or {})


@router.get("/activate")
async def activate_page(request: Request, services: ServicesDep) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    if not services.settings.activation.enabled:
        return _off(request, locale)
    return _facts_form(request, services, locale=locale)


@router.post("/activate")
async def activate_submit(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    locale = choose_locale(request, settings.site.default_locale, form=form)
    if not settings.activation.enabled:
        return _off(request, locale)
    ip = client_ip(request)
    if not _csrf_ok(request, services, form):
        await services.audit.record(KIND, "csrf_failed", ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    raw = form.get("username")
    username = normalize_username(raw)[:MAX_USERNAME] if isinstance(raw, str) else ""
    attributes = settings.activation.facts
    typed = {}
    for i, attribute in enumerate(attributes):
        value = form.get(f"fact_{i}")
        typed[attribute] = value.strip()[:activation.MAX_FACT] if isinstance(value, str) else ""

    def again(error: str, status: int, **extra: Any) -> Response:
        return _facts_form(request, services, locale=locale, username=username, typed=typed,
                           error=error, status=status, **extra)

    if not username or not all(activation.normalise_fact(v) for v in typed.values()):
        return again("activate_err_fields", 400)

    audit: dict[str, Any] = {"actor": username, "ip": ip}
    throttle = LoginThrottle.of(services)
    verdict = ALLOWED
    try:
        verdict = await throttle.check(username, ip)
        if not verdict.allowed:
            await services.audit.record(KIND, "throttled", **audit)
            values, headers = throttled_values(verdict)
            return again("activate_err_throttled", 429, error_values=values, headers=headers)
        found = await services.directory.facts(username, tuple(attributes))
    except DirectoryUnavailable as exc:
        await throttle.refund(verdict)  # our fault: the attempt does not count
        await services.audit.record(KIND, exc.kind, reason=exc.detail or str(exc), **audit)
        return _unavailable(request, locale)
    except ValueError as exc:  # an attribute this directory cannot have (settings say so at start)
        await throttle.refund(verdict)
        await services.audit.record(KIND, "misconfigured", reason=str(exc)[:300], **audit)
        return error_page(request, status=503, title="activate_off_title",
                          detail="activate_err_config", locale=locale)

    if not activation.facts_match(found, typed) or found is None:
        await throttle.failed(ip)
        # for the admin reading the log: facts the entry holds no value for can never match
        # (a misspelt attribute, or one the registrar's sync does not fill); never the values
        missing = sorted(n for n, v in found.values.items() if not v) if found else []
        if missing:
            log.warning("activation: %s has no value for %s", found.account.username, missing)
        await services.audit.record(KIND, "wrong_facts", **audit,
                                    **({"no_value_for": missing} if missing else {}))
        return again("activate_err_facts", 401)
    await throttle.succeeded(verdict)
    subject, spelled = found.account.key, found.account.username
    audit |= {"actor": spelled, "subject": subject}
    if not await ActivationMarks(services.db).is_marked(subject):
        await services.audit.record(KIND, "not_marked", **audit)
        return _already(request, locale)
    await services.audit.record(KIND, "facts_proven", **audit)
    token, _ = csrf.browser_token(request, settings)
    ticket = await activation.issue_ticket(services.store, subject, spelled, token)
    return _password_form(request, services, locale=locale, ticket=ticket, username=spelled)


def _password_form(request: Request, services: Services, *, locale: Locale, ticket: str,
                   username: str, email: str = "", phone: str = "", error: str | None = None,
                   status: int = 200, error_values: dict[str, object] | None = None) -> Response:
    return _page(request, services, "activate_password.html", locale=locale, status=status,
                 ticket=ticket, username=username, email=email, phone=phone, error=error,
                 error_values=error_values or {})


@router.post("/activate/password")
async def password_submit(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    locale = choose_locale(request, settings.site.default_locale, form=form)
    if not settings.activation.enabled:
        return _off(request, locale)
    ip = client_ip(request)
    if not _csrf_ok(request, services, form):
        await services.audit.record(KIND, "csrf_failed", ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    token = form.get("ticket")
    ticket = await activation.read_ticket(services.store, token, request.cookies.get(
        csrf.cookie_name(settings)))
    if ticket is None or not isinstance(token, str):
        return error_page(request, status=400, title="activate_expired_title",
                          detail="activate_expired", locale=locale)
    fields = {name: form.get(name) for name in ("new", "confirm", "email", "phone")}
    new, confirm, email, phone = (v if isinstance(v, str) else "" for v in fields.values())
    email, phone = email.strip(), phone.strip()
    audit: dict[str, Any] = {"actor": ticket.username, "ip": ip, "subject": ticket.subject}

    def again(error: str, status: int, **values: object) -> Response:
        return _password_form(request, services, locale=locale, ticket=token,
                              username=ticket.username, email=email[:activation.MAX_EMAIL],
                              phone=phone[:40], error=error, status=status, error_values=values)

    # the directory's policy judges the password; only what it could never be given is refused
    if not new or new != confirm or len(new) > MAX_PASSWORD:
        return again("activate_err_password", 400)
    problem = activation.contact_problem(email, phone)
    if problem is not None:
        return again(problem, 400)

    marks = ActivationMarks(services.db)
    if not await activation.begin(services.store, ticket.subject):
        return again("activate_busy", 409)
    try:
        if not await marks.is_marked(ticket.subject):  # replayed after the activation
            await services.audit.record(KIND, "not_marked", **audit)
            return _already(request, locale)
        located = await services.directory.locate(ticket.username)
        if located is None or located.key != ticket.subject:  # renamed or removed meanwhile
            await activation.end_ticket(services.store, token)
            return error_page(request, status=400, title="activate_expired_title",
                              detail="activate_expired", locale=locale)
        outcome = await _write(services, ticket.username, new, email, phone, audit)
        if outcome is not None:
            kind, values = outcome
            if kind == "unavailable":
                return _unavailable(request, locale)
            return again(kind, 400, **values)
        await marks.take(ticket.subject)
        await activation.end_ticket(services.store, token)
    finally:
        await activation.finish(services.store, ticket.subject)
    await services.audit.record(KIND, "success", **audit,
                                recovery=[n for n, v in (("email", email), ("phone", phone)) if v])
    return render(request, "activate_done.html", locale=locale, title="activate_done_title",
                  message="activate_done", forgot=False)


async def _write(services: Services, username: str, new: str, email: str, phone: str,
                 audit: dict[str, Any]) -> tuple[str, dict[str, object]] | None:
    """The password (activation.py), then the recovery contact; None when both are saved, else
    the message key (and values) for the form, or "unavailable". The contact comes second so
    that a password the policy refuses (the usual failure) leaves the entry's attributes as
    they were; should the contact then fail, the mark stays and the form can be sent again."""
    interim = activation.interim_password()
    try:
        await services.writer.set_password(username, interim, must_change=True)
        await services.directory.change_password(username, interim, new)
        if getattr(services.writer, "active_directory", False):
            # AD adds an account without a password disabled; the intake left it so for this
            # moment (an admin who disables a marked person also takes the mark)
            await services.writer.set_disabled(username, False)
    except PasswordRejected as exc:
        await services.audit.record(KIND, "rejected", reason=exc.detail or exc.reason, **audit)
        return f"err_password_{exc.reason}", {}
    except DirectoryUnavailable as exc:
        await services.audit.record(KIND, exc.kind, reason=exc.detail or str(exc), **audit)
        return "unavailable", {}
    except (InvalidCredentials, NoSuchEntry, DirectoryError, ValueError) as exc:
        # a write the directory refused (schema, AD without LDAPS, locked or disabled meanwhile)
        await services.audit.record(KIND, "failed", reason=str(exc)[:300], **audit)
        return "account_err_rejected", {"reason": str(exc)[:300]}
    contact = {key: value for key, value in (("email", email), ("phone", phone)) if value}
    try:
        await services.writer.update_person(username, **contact)
    except DirectoryUnavailable as exc:
        await services.audit.record(KIND, exc.kind, reason=exc.detail or str(exc), **audit)
        return "unavailable", {}
    except (DirectoryError, ValueError) as exc:
        await services.audit.record(KIND, "contact_rejected", reason=str(exc)[:300], **audit)
        return "activate_err_contact_rejected", {}
    return None
