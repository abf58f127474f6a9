"""Changing one's own password from the account page: the directory checks the current
password and applies its policy (Directory.change_password: RFC 3062 Password Modify on
OpenLDAP, the delete-old/add-new unicodePwd modify on Active Directory).

A wrong current password is a failed bind in the directory and counts toward its lockout, so
wrong guesses are limited here first (per person, the same limit as second factors). Someone with
a second factor changes it only from a session that used the factor within the step-up window
(account_step_up.py); without one, the current password in the form is the fresh check.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from directory.base import DirectoryError, DirectoryUnavailable, InvalidCredentials
from idp.http.routing import Router
from idp.mfa import attempts
from idp.services import ServicesDep
from idp.sso.cookie import client_ip
from idp.web import account_step_up as step_up
from idp.web.account_common import checked_post, done, visit
from idp.web.pages import error_page

router = Router(audience="page")

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
THROTTLE_KIND = "password-change"


def new_password_problem(new: str, confirm: str) -> tuple[str, dict[str, int]] | None:
    """The message key (and its values) when a chosen password cannot even be tried."""
    if new != confirm:
        return "account_err_mismatch", {}
    if len(new) < MIN_PASSWORD or len(new) > MAX_PASSWORD:
        return "account_err_too_short", {"n": MIN_PASSWORD}
    return None


@router.get("/account/password")
async def password_page(request: Request, services: ServicesDep) -> Response:
    found = await visit(request, services)
    if isinstance(found, Response):
        return found
    asked = await step_up.required(request, services, found, "password", back="/account/password",
                                   password_form=True)
    if asked is not None:
        return asked
    return found.page(request, "account_password.html", error=None, values={})


@router.post("/account/password")
async def change_password(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    asked = await step_up.required(request, services, found, "password", back="/account/password",
                                   password_form=True)
    if asked is not None:
        return asked
    person, store = found.person, services.store
    old, new, confirm = (form.get(k) if isinstance(form.get(k), str) else ""
                         for k in ("old", "new", "confirm"))

    def again(error: str, status: int, **values: object) -> Response:
        return found.page(request, "account_password.html", error=error, values=values,
                          status=status)

    problem = new_password_problem(str(new), str(confirm))
    if problem is not None:
        return again(problem[0], 400, **problem[1])
    limit = services.settings.mfa.max_failures
    if await attempts.blocked(store, person.subject, limit, THROTTLE_KIND):
        return again("mfa_err_throttled", 429)
    changer = getattr(services.directory, "change_password", None)
    if changer is None:
        return again("account_err_unsupported", 501)
    audit = {"actor": person.username, "ip": client_ip(request), "subject": person.subject}
    try:
        await changer(person.username, str(old)[:MAX_PASSWORD], str(new))
    except InvalidCredentials:
        await attempts.failed(store, person.subject, THROTTLE_KIND)
        await services.audit.record("password_change", "invalid_credentials", **audit)
        return again("account_err_old_password", 401)
    except DirectoryUnavailable:
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail="err_directory_unavailable", locale=found.locale)
    except (DirectoryError, ValueError) as exc:
        await services.audit.record("password_change", "rejected", reason=str(exc)[:300], **audit)
        return again("account_err_rejected", 400, reason=str(exc)[:300])
    await attempts.succeeded(store, person.subject, THROTTLE_KIND)
    await services.audit.record("password_change", "success", **audit)
    await services.revocation.revoke(person.subject, reason="password_change",
                                     actor=person.username, keep=found.session.sid)
    return done("account_password_changed")
