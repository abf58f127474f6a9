"""Password reset through a one-time link (idp/sso/reset_links.py): /account/forgot (the link
sent by e-mail) and /account/reset/{token}, the page behind every reset link, also those an
admin hands out (from the console or the admin API).

- The answer to /account/forgot is the same whether or not the account exists or has an
  address, and the mail is sent in the background, so neither the page nor its timing tells
  who has an account (no enumeration).
- A mailed link works for 30 minutes (an admin's: settings.access.reset_link_ttl), only the
  newest link of a person works, and it is taken atomically when the new password is saved.
- The new password is written as an administrator would (DirectoryWriter.set_password: the local
  directory, or the LDAP admin bind), then everything the person held is revoked
  (idp/sso/revocation.py): every session (with single logout), every refresh and access token.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request
from starlette.responses import Response

from directory.base import DirectoryError, DirectoryUnavailable, NoSuchEntry, Person
from idp.db.activation import ActivationMarks
from idp.http.routing import Router
from idp.services import Services, ServicesDep
from idp.sso import reset_links
from idp.sso.cookie import client_ip
from idp.web import csrf, mfa_text  # noqa: F401  (mfa_text: registers the page strings)
from idp.web.account_password import MAX_PASSWORD, new_password_problem
from idp.web.i18n import Locale, choose_locale, text
from idp.web.mail import MailError, send_mail
from idp.web.pages import error_page, render

router = Router(audience="page")
log = logging.getLogger("idp.reset")

RESET_TTL = 30 * 60
MAILS_PER_PERSON = 3  # per RESET_TTL: no mail-bombing an address
REQUESTS_PER_IP = 20  # per RESET_TTL
MAX_WHO = 256
_background: set[asyncio.Task[Any]] = set()


def _page(request: Request, services: Services, template: str, *, locale: Locale,
          status: int = 200, **context: Any) -> Response:
    token, new = csrf.browser_token(request, services.settings)
    response = render(request, template, locale=locale, status=status, csrf_token=token, **context)
    if new:
        csrf.set_cookie(response, token, services.settings)
    return response


def _csrf_ok(request: Request, services: Services, form: Any) -> bool:
    # double submit: the hidden field repeats this browser's HttpOnly cookie; the pages act on
    # nothing a cross-site form could name (an e-mail address, or a secret link)
    cookie = request.cookies.get(csrf.cookie_name(services.settings))
    return csrf.is_valid(request, services.settings, form.get("csrf"), cookie)


async def find_person(services: Services, who: str) -> Person | None:
    """The one person with this login name or, failing that, this e-mail address."""
    person = await services.directory.find(who)
    if person is not None or "@" not in who:
        return person
    found = [p for p in await services.writer.search(who, limit=5)
             if p.email and p.email.casefold() == who.casefold()]
    return found[0] if len(found) == 1 else None


@router.get("/account/forgot")
async def forgot_page(request: Request, services: ServicesDep) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    return _page(request, services, "account_forgot.html", locale=locale, sent=False)


@router.post("/account/forgot")
async def forgot_submit(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    locale = choose_locale(request, services.settings.site.default_locale, form=form)
    if not _csrf_ok(request, services, form):
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    who = form.get("who")
    who = who.strip()[:MAX_WHO] if isinstance(who, str) else ""
    ip = client_ip(request)
    if who and await services.store.incr(f"throttle:reset:ip:{ip}", RESET_TTL) <= REQUESTS_PER_IP:
        # the lookup and the mail happen after the answer, so its timing is the same for all
        task = asyncio.get_running_loop().create_task(
            _send_link(services, who, ip=ip, locale=locale))
        _background.add(task)
        task.add_done_callback(_background.discard)
    return _page(request, services, "account_forgot.html", locale=locale, sent=True)


async def _send_link(services: Services, who: str, *, ip: str, locale: Locale) -> None:
    try:
        person = await find_person(services, who)
        if person is None or person.disabled or not person.email:
            await services.audit.record("password_reset", "no_mail", actor=who[:200], ip=ip)
            return
        sent = await services.store.incr(f"throttle:reset:person:{person.subject}", RESET_TTL)
        if sent > MAILS_PER_PERSON:
            await services.audit.record("password_reset", "throttled", actor=person.username, ip=ip)
            return
        link = await reset_links.issue(services.store, services.settings.issuer, person,
                                       RESET_TTL) + f"?ui_locales={locale}"
        campus = (services.settings.site.campus_name_zh if locale == "zh"
                  else services.settings.site.campus_name)
        await send_mail(
            services.settings, to=person.email,
            subject=text("reset_mail_subject", locale, campus=campus),
            body=text("reset_mail_body", locale, name=person.name or person.username,
                      user=person.username, link=link, campus=campus))
        await services.audit.record("password_reset", "mailed", actor=person.username, ip=ip)
    except (MailError, DirectoryError, OSError) as exc:
        log.warning("password reset mail for %r not sent: %s", who[:200], exc)
        await services.audit.record("password_reset", "mail_failed", actor=who[:200], ip=ip,
                                    reason=str(exc)[:300])
    except Exception:
        # a background task: nobody else would ever see this error
        log.exception("password reset for %r failed", who[:200])


def _invalid(request: Request, locale: Locale) -> Response:
    return error_page(request, status=400, title="reset_invalid_title", detail="reset_invalid",
                      locale=locale)


@router.get("/account/reset/{token}")
async def reset_page(token: str, request: Request, services: ServicesDep) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    record = await reset_links.live_record(services.store, token)
    if record is None:
        return _invalid(request, locale)
    return _page(request, services, "account_reset.html", locale=locale,
                 username=record["username"], error=None, values={})


@router.post("/account/reset/{token}")
async def reset_submit(token: str, request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    locale = choose_locale(request, services.settings.site.default_locale, form=form)
    if not _csrf_ok(request, services, form):
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    record = await reset_links.live_record(services.store, token)
    if record is None:
        return _invalid(request, locale)
    new, confirm = (form.get(k) if isinstance(form.get(k), str) else "" for k in ("new", "confirm"))

    def again(error: str, status: int, **values: object) -> Response:
        return _page(request, services, "account_reset.html", locale=locale, status=status,
                     username=record["username"], error=error, values=values)

    problem = new_password_problem(str(new), str(confirm))
    if problem is not None:
        return again(problem[0], 400, **problem[1])
    # taken before the write: of two concurrent submissions only one may reset
    if not await reset_links.take(services.store, token):
        return _invalid(request, locale)
    try:
        await _write_password(services, record["username"], str(new)[:MAX_PASSWORD])
    except (DirectoryError, ValueError) as exc:
        if not isinstance(exc, NoSuchEntry):
            await reset_links.put_back(services.store, token, record)
        if isinstance(exc, DirectoryUnavailable):
            return error_page(request, status=503, title="err_directory_unavailable_title",
                              detail="err_directory_unavailable", locale=locale)
        return again("account_err_rejected", 400, reason=str(exc)[:300])
    await reset_links.forget(services.store, record["subject"])
    # a password of their own now: nobody may set another through /activate
    await ActivationMarks(services.db).take(record["subject"])
    # whoever held the old password holds nothing any more: tokens, sessions, everywhere
    await services.revocation.revoke(record["subject"], reason="password_reset",
                                     actor=record["username"])
    await _audit_success(services, record, client_ip(request))
    return render(request, "account_reset_done.html", locale=locale)


async def _audit_success(services: Services, record: dict[str, Any], ip: str) -> None:
    username, issued_by = record["username"], record.get("by")
    if issued_by:  # the end of an admin's action: in the admin log, as the link's creation is
        await services.audit.record("admin", "success", actor=username, ip=ip,
                                    action="redeem_reset_link", via="reset_link", target=username,
                                    issued_by=issued_by)
    else:
        await services.audit.record("password_reset", "success", actor=username, ip=ip,
                                    subject=record["subject"])


async def _write_password(services: Services, username: str, password: str) -> None:
    # the process's one writer (its admin connections are pooled, never opened per reset)
    await services.writer.set_password(username, password, must_change=False)
