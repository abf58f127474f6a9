"""The person's side of device sign-in (RFC 8628 §3.3), as the sign-in core sees it:

    a user code the page found -> decide (SSO session? second factor? the app's rule?)
          -> park a pending sign-in for the login pages, or for the confirmation (consent) page
          -> back at /device/resume/{id}: record the person's answer on the authorization

The pages are the sign-in core's (idp/sso/signins.py): the same login, second factor and
password change as for the code flow. The confirmation is always asked, for every app, even one
that skips consent and even when the person arrived through `verification_uri_complete`: a
device code is approved only by a click of a signed-in person who saw which app asks, from
where, and the code to compare with the device's screen (§5.4, remote phishing). Once decided,
the browser goes to /device/done, which says to return to the device.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from directory.base import Person
from idp.db.models import Client
from idp.http.problems import PageError
from idp.mfa.policy import has_second_factor, mfa_requirement
from idp.protocols.oidc import person_scopes
from idp.protocols.oidc.device_codes import DeviceAuthorization, DeviceCodes, display_user_code
from idp.protocols.oidc.models import StoredCode
from idp.protocols.oidc.required_scopes import required_for
from idp.sso.access import AccessRule, refusal
from idp.sso.apps import client_cache
from idp.sso.cookie import client_ip, session_id
from idp.sso.identities import choice_extra, identity_for_app, just_chosen
from idp.sso.sessions import SsoSession
from idp.sso.signins import Page, PendingSignIn

if TYPE_CHECKING:
    from idp.services import Services

RESUME = "/device/resume/{id}"
NO_STORE = {"Cache-Control": "no-store"}


def codes_of(services: Services) -> DeviceCodes:
    return DeviceCodes(services.store, services.settings.device)


async def begin(services: Services, request: Request, digest: str, *,
                ui_locales: str | None) -> Response:
    """The page found a live authorization by its user code: on to the sign-in."""
    return await _decide(services, request, digest, resumed=None, ui_locales=ui_locales)


async def resume(services: Services, request: Request, signin_id: str) -> Response:
    """Back from the login, second-factor or confirmation page: the sign-in is single use."""
    signin = await services.signins.take(signin_id)
    if signin is None or signin.protocol != "device":
        raise PageError(400, "interaction_expired_title", "interaction_expired")
    return await _decide(services, request, signin.request.get("device", ""), resumed=signin,
                         ui_locales=signin.ui_locales)


async def _decide(services: Services, request: Request, digest: str, *,
                  resumed: PendingSignIn | None, ui_locales: str | None) -> Response:
    codes = codes_of(services)
    record = await codes.get(digest) if digest else None
    if record is None or record.status != "pending" or record.expired():
        raise PageError(400, "device_expired_title", "device_expired")
    client = await _client(services, record)
    if client is None:
        await codes.decide(digest, grant=None)
        raise PageError(400, "device_expired_title", "device_app_gone")
    session = await services.sessions.get(session_id(request, services.settings))
    # the sign-in being resumed was finished by this browser's current session
    here = resumed is not None and session is not None and resumed.sid == session.sid
    if here and resumed is not None and resumed.page == "consent":
        return await _answer(services, request, digest, record, client, session, resumed)
    reason: str | None = None
    person: Person | None = None
    if session is None:
        reason = "no_session"
    else:
        person = await services.directory.by_subject(session.subject)
        if person is None or person.disabled:
            reason = "account_unavailable"
        elif _needs_step_up(services, client, session, person):
            reason = "mfa"
    if reason is not None or session is None or person is None:
        return await _park(services, digest, record, client, page="login", reason=reason,
                           session=None, ui_locales=ui_locales)
    # a person with several linked identities: which one the app gets (idp/sso/identities.py),
    # carried through the pages still to come, as for the code flow
    rule = AccessRule.of(client.extra)
    outcome = await identity_for_app(services, session, person, client.client_id, rule,
                                     resumed=resumed)
    if outcome.person is None:
        return await _park(services, digest, record, client, page="identity",
                           reason="identity", session=session, ui_locales=ui_locales,
                           extra=choice_extra(outcome.candidates))
    if outcome.person.subject != person.subject \
            and _needs_step_up(services, client, session, outcome.person):
        # the identity settled on requires a second factor the session has not shown
        return await _park(services, digest, record, client, page="login", reason="mfa",
                           session=None, ui_locales=ui_locales,
                           extra={"identity": outcome.person.subject})
    # the identity settled on (chosen, remembered or picked by the app's rule) is the one the
    # answer grants; the confirmation names it when there was more than one
    chosen: dict[str, object] = {"identity": outcome.person.subject}
    if len(outcome.candidates) > 1:
        chosen["identity_name"] = outcome.person.name or outcome.person.username
    person = outcome.person
    if not rule.allows(person):
        # outside the app's rule (idp/sso/access.py): the device hears access_denied
        await codes.decide(digest, grant=None)
        await services.audit.record("access", "denied", actor=person.username,
                                    client_id=client.client_id, ip=client_ip(request),
                                    protocol="device")
        raise refusal(client.name, services.settings.site.support_contact)
    return await _park(services, digest, record, client, page="consent", reason=None,
                       session=session, ui_locales=ui_locales, extra=chosen)


async def _client(services: Services, record: DeviceAuthorization) -> Client | None:
    row = await client_cache(services.db).get(record.client_id)
    if row is None or row.status != "active" or row.protocol != "oidc":
        return None
    return row


def _needs_step_up(services: Services, client: Client, session: SsoSession,
                   person: Person) -> bool:
    if has_second_factor(session.amr, session.acr):
        return False
    return mfa_requirement(services.settings, client_extra=client.extra, person=person,
                           acr_values=[]) is not None


async def _park(services: Services, digest: str, record: DeviceAuthorization, client: Client,
                *, page: Page, reason: str | None, session: SsoSession | None,
                ui_locales: str | None, extra: dict[str, object] | None = None) -> Response:
    scopes = record.scope.split()
    signin = await services.signins.start(
        protocol="device", resume=RESUME, page=page, request={"device": digest},
        app_id=client.client_id, app_name=client.name, scopes=scopes,
        reason=reason, ui_locales=ui_locales,
        # the scopes the person may not untick on the confirmation (openid, and what the app's
        # registration marks required)
        required_scopes=required_for(client.extra, scopes),
        # the confirmation belongs to the session signed in right now (consent.py checks it)
        sid=session.sid if session is not None else None,
        # what the confirmation page shows besides the app: the code to compare with the
        # device's screen, where the request came from and when
        extra={**(extra or {}),
               "device": {"user_code": display_user_code(record.user_code), "ip": record.ip,
                          "issued_at": record.issued_at}},
    )
    return RedirectResponse(signin.page_url, status_code=303, headers=NO_STORE)


async def _answer(services: Services, request: Request, digest: str,
                  record: DeviceAuthorization, client: Client, session: SsoSession,
                  signin: PendingSignIn) -> Response:
    """Record the person's answer on the authorization; the device hears it at its next poll.
    The grant is the identity the confirmation named (the entry signed in with, unless the
    person has several linked identities)."""
    person = await services.directory.by_subject(just_chosen(signin, session) or session.subject)
    approved = not signin.denied and signin.granted_scopes is not None and person is not None \
        and not person.disabled and signin.extra.get("consent_subject") == session.subject
    grant = None
    if approved:
        assert person is not None and signin.granted_scopes is not None
        # what the person left ticked, and what they could not untick (checked by the page, and
        # here again against the registration as it is now)
        required = required_for(client.extra, record.scope.split())
        scope = " ".join(s for s in record.scope.split()
                         if s in signin.granted_scopes or s in required)
        scope = person_scopes.for_person(scope, person, services.settings)
        grant = StoredCode(client_id=record.client_id, subject=person.subject, redirect_uri=None,
                           scope=scope, issued_at=int(time.time()), auth_time=session.auth_time,
                           acr=session.acr, amr=list(session.amr), sid=session.sid,
                           resource=list(record.resource))
    decided = await codes_of(services).decide(digest, grant=grant)
    if decided is None:  # another tab or a second click decided first
        raise PageError(400, "device_expired_title", "device_expired")
    if approved:
        await services.sessions.add_client(session.sid, client.client_id)
    await services.audit.record("device", "approved" if approved else "denied",
                                actor=session.username, client_id=client.client_id,
                                ip=client_ip(request), device_ip=record.ip, scope=record.scope)
    outcome = "approved" if approved else "denied"
    return RedirectResponse(f"/device/done?outcome={outcome}", status_code=303, headers=NO_STORE)
