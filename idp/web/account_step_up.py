"""Step-up for account changes ("sudo mode", as GitHub calls it).

Adding a second factor, removing one, making new recovery codes and changing the password need a
session whose last check is at most IDP_MFA_STEP_UP_SECONDS old (default 5 minutes) and, when
the person has a second factor, used it (idp/mfa/policy.py `recent_enough`). Otherwise a browser
left signed in, or a session opened with a stolen password before the person enrolled a factor,
could take the factor away again (issue 24 item 3). The password change itself carries the
current password, which is the fresh password entry for someone without a factor, so it asks
for more only of people who have one.

The check happens where the change is made (every POST) and where an enrolment starts (the
authenticator app's secret and the passkey challenge are handed out only to a recent session;
the enrolment then has their own lifetime, 10 and 5 minutes, to finish).

Asking again reuses the sign-in machinery rather than a re-auth page of its own: a PendingSignIn
(idp/sso/signins.py) whose resume target is this module's /account/confirm/{id}. For a person
with a factor it is a step-up (reason "mfa"): the second-factor page (/mfa/{id}) raises the
current session without the password, with its per-person throttle, passkeys and recovery codes.
For a person without one it is a password login (reason "max_age") on the login page, behind the
login throttle. Either way finish_login makes a fresh session (new id, auth_time now, amr/acr of
what was proven) and sends the browser here, where the sign-in is taken once and the browser
goes back to the account page it came from. Nothing of the refused request is replayed: the
person does it again, now within the window.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.http.routing import Router
from idp.mfa.factors import factors_of
from idp.mfa.policy import recent_enough
from idp.services import Services, ServicesDep
from idp.web.account_common import ACCOUNT, Visit, checked_post, visit
from idp.web.login_area import safe_next

router = Router(audience="page")

CONFIRM = "/account/confirm"


def minutes(services: Services) -> int:
    return max(1, -(-services.settings.mfa.step_up_seconds // 60))


async def _state(services: Services, found: Visit) -> tuple[bool, bool]:
    """(recent enough for a change, the person has a second factor)."""
    enrolled = (await factors_of(services.engine, found.person.subject)).any
    session = found.session
    recent = recent_enough(age=session.age(), amr=session.amr, acr=session.acr, enrolled=enrolled,
                           window=services.settings.mfa.step_up_seconds)
    return recent, enrolled


async def required(request: Request, services: Services, found: Visit, action: str, *,
                   back: str = ACCOUNT.prefix, password_form: bool = False) -> Response | None:
    """None when this session may do `action` now; else the redirect to the page that explains
    why it asks again. `password_form`: the request carries the current password, which is the
    fresh password entry a person without a second factor needs."""
    recent, enrolled = await _state(services, found)
    if recent or (password_form and not enrolled):
        return None
    await services.audit.record("account", "step_up_asked", actor=found.person.username,
                                subject=found.person.subject, action=action)
    return RedirectResponse(f"{CONFIRM}?{urlencode({'next': safe_next(ACCOUNT, back)})}",
                            status_code=303)


@router.get(CONFIRM)
async def confirm_page(request: Request, services: ServicesDep) -> Response:
    found = await visit(request, services)
    if isinstance(found, Response):
        return found
    back = safe_next(ACCOUNT, request.query_params.get("next"))
    recent, enrolled = await _state(services, found)
    if recent:
        return RedirectResponse(back, status_code=303)
    return found.page(request, "account_confirm.html", back=back, minutes=minutes(services),
                      why="account_step_up_why_factor" if enrolled else
                      "account_step_up_why_password")


@router.post(CONFIRM)
async def confirm_start(request: Request, services: ServicesDep) -> Response:
    """Park a sign-in that proves the factor (or the password) again, back here after it."""
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    back = safe_next(ACCOUNT, form.get("next"))
    recent, enrolled = await _state(services, found)
    if recent:
        return RedirectResponse(back, status_code=303)
    person = found.person
    signin = await services.signins.start(
        protocol="account", resume=CONFIRM + "/{id}", page="login", app_id=ACCOUNT.client_id,
        app_name=ACCOUNT.client_name, scopes=[], request={}, login_hint=person.username,
        ui_locales=found.locale, reason="mfa" if enrolled else "max_age",
        extra={"next": back})
    await services.audit.record("account", "step_up_started", actor=person.username,
                                subject=person.subject, factor=enrolled)
    return RedirectResponse(signin.page_url, status_code=303, headers={"Cache-Control": "no-store"})


@router.get(CONFIRM + "/{signin_id}")
async def confirm_done(signin_id: str, request: Request, services: ServicesDep) -> Response:
    """Where the sign-in resumes: taken once, and only by the session it made."""
    found = await visit(request, services)
    if isinstance(found, Response):
        return found
    signin = await services.signins.take(signin_id)
    if signin is None or signin.protocol != "account" or signin.sid != found.session.sid:
        return RedirectResponse(ACCOUNT.prefix, status_code=303)
    await services.audit.record("account", "step_up", actor=found.person.username,
                                subject=found.person.subject, amr=found.session.amr)
    back = safe_next(ACCOUNT, signin.extra.get("next"))
    if back == ACCOUNT.prefix:
        back += "?" + urlencode({"done": "account_confirmed"})
    return RedirectResponse(back, status_code=303)
