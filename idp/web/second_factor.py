"""How a sign-in passes through the second factor (the login UI's step; idp/mfa/ has the
factors themselves).

Two ways in:
- after the password (`second_factor_step`, called by the login page once the directory said
  yes): when a factor is required or the person has one, no session is made yet; the
  signin remembers who passed the password ("pending") and the browser goes to /mfa/{id};
- step-up (`step_up_pending`): the engine found a password-only session where a second factor is
  required and sent the browser straight to /mfa/{id}, without asking for the password again.
Either way, once the factor is proven, the login page's `finish_login` makes the session (a fresh
id, as at every login) with amr ["pwd", "otp"|"hwk"] and acr ACR_MFA, and hands the browser back
to the engine's resume step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import Person
from idp.mfa import attempts
from idp.mfa.factors import login_facts
from idp.mfa.policy import mfa_requirement
from idp.sso.cookie import client_ip
from idp.sso.sessions import SsoSession
from idp.sso.signins import PendingSignIn
from idp.web import csrf

if TYPE_CHECKING:
    from idp.services import Services

PENDING = "mfa"  # the signin.extra key of the pending second factor
Method = Literal["otp", "hwk"]


@dataclass
class Pending:
    """Who is between the password and the second factor, and why."""

    mode: Literal["login", "step_up"]
    subject: str
    username: str
    why: str  # client, group, acr_values, enrolled
    browser: str | None = None  # the CSRF cookie of the browser that passed the password
    sid: str | None = None  # step-up: the session being raised
    # step-up: what that session already proved; login: what the first step proved (None: the
    # password; ["fed"]: a bound upstream account)
    amr: list[str] | None = None
    enrol_secret: str | None = None  # forced enrolment: the sealed TOTP secret on offer
    proven: str | None = None  # enrolled and proven; waiting for "continue" after the codes

    @classmethod
    def of(cls, signin: PendingSignIn) -> Pending | None:
        raw = signin.extra.get(PENDING)
        return cls(**raw) if isinstance(raw, dict) else None

    def save_to(self, signin: PendingSignIn) -> None:
        signin.extra[PENDING] = asdict(self)


async def second_factor_step(request: Request, services: Services, signin: PendingSignIn,
                             person: Person, *, amr: list[str] | None = None) -> Response | None:
    """After a good password (or a bound upstream account: `amr` ["fed"]): None to carry on
    (no factor needed or enrolled), or the redirect to the second-factor page."""
    client_extra, enrolled = await login_facts(services.engine, signin.app_id, person.subject)
    why = mfa_requirement(
        services.settings, client_extra=client_extra,
        person=person, acr_values=signin.acr_values)
    if why is None and not enrolled:
        return None
    Pending(mode="login", subject=person.subject, username=person.username,
            why=why or "enrolled", amr=amr,
            browser=request.cookies.get(csrf.cookie_name(services.settings))).save_to(signin)
    await services.signins.save(signin)
    await services.audit.record("mfa", "asked", actor=person.username,
                                client_id=signin.app_id, ip=client_ip(request),
                                reason=why or "enrolled")
    return RedirectResponse(f"/mfa/{signin.id}", status_code=303,
                            headers={"Cache-Control": "no-store"})


def step_up_pending(signin: PendingSignIn, session: SsoSession) -> Pending:
    return Pending(mode="step_up", subject=session.subject, username=session.username,
                   why=signin.reason or "step_up", sid=session.sid, amr=list(session.amr))


async def record_success(request: Request, services: Services, signin: PendingSignIn,
                         pending: Pending, method: Method) -> list[str]:
    """The second factor is proven: forget the pending state and the failure count, audit, and
    return the amr of the session to make (the login page's finish_login makes it, with a fresh
    id, as at every login)."""
    signin.extra.pop(PENDING, None)
    await services.signins.save(signin)
    await attempts.succeeded(services.store, pending.subject)
    await services.audit.record("mfa", "success", actor=pending.username,
                                client_id=signin.app_id, ip=client_ip(request),
                                method=method, mode=pending.mode, subject=pending.subject)
    return [m for m in (pending.amr or ["pwd"]) if m != method] + [method]
