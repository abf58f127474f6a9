"""/cas/login as credential requestor (CAS Protocol 3.0 §2.1, §2.2.4), as a pipeline:

    parse -> the service must be registered -> decide (SSO session? renew? second factor?)
          -> issue a service ticket, or park a pending sign-in for the login pages

The pages are the sign-in core's (idp/sso/signins.py): the same login, second factor and
password change as for OpenID Connect. They send the browser back to /cas/login/resume/{id},
where the same decision runs again with the sign-in just finished, which is what makes a ticket
"from a new login" (`renew`, §2.5.1). `gateway` never shows a page: without a usable session the
browser goes back to the service with no ticket (§2.1.1). A person with several linked identities
gets the core's choice (idp/sso/identities.py): the ticket names the identity settled on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from directory.base import Person
from idp.http.problems import PageError
from idp.mfa.policy import has_second_factor, mfa_requirement
from idp.protocols.cas.registry import CasService, registry
from idp.protocols.cas.tickets import Ticket, Tickets
from idp.sso.access import AccessRule, refusal
from idp.sso.cookie import client_ip, session_id
from idp.sso.identities import choice_extra, identity_for_app
from idp.sso.sessions import SsoSession
from idp.sso.signins import Page, PendingSignIn

if TYPE_CHECKING:
    from idp.services import Services

METHODS = ("GET", "POST", "HEADER")
RESUME = "/cas/login/resume/{id}"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Expires": "0"}
MAX_PARAM = 2048


@dataclass(frozen=True)
class LoginRequest:
    service: str | None
    renew: bool
    gateway: bool  # ignored when renew is set (§2.1.1 recommends it)
    method: str


def _flag(value: str | None) -> bool:
    # "if this parameter is set": any value but an explicit false
    return value is not None and value.lower() not in ("false", "0", "no")


def parse(params: dict[str, str]) -> LoginRequest:
    service = params.get("service") or None
    if service is not None and (len(service) > MAX_PARAM or not service.isascii()
                                or not service.isprintable()):
        # a URL is ASCII (RFC 3986): anything else cannot be a registered service
        raise PageError(400, "cas_bad_request_title", "cas_bad_service")
    method = (params.get("method") or "GET").upper()
    if method not in METHODS:
        raise PageError(400, "cas_bad_request_title", "cas_bad_method")
    renew = _flag(params.get("renew"))
    return LoginRequest(service=service, renew=renew,
                        gateway=_flag(params.get("gateway")) and not renew, method=method)


def tickets_of(services: Services) -> Tickets:
    return Tickets(services.store, services.settings.cas.ticket_ttl, services.settings.session.ttl)


async def login(services: Services, request: Request) -> Response:
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    wanted = parse(params)
    cas_service = await _registered(services, wanted.service)
    return await _decide(services, request, wanted, cas_service, resumed=None)


async def resume(services: Services, request: Request, signin_id: str) -> Response:
    """Back from the login pages: the pending sign-in is single use."""
    signin = await services.signins.take(signin_id)
    if signin is None or signin.protocol != "cas":
        raise PageError(400, "interaction_expired_title", "interaction_expired")
    wanted = LoginRequest(service=signin.request.get("service") or None,
                          renew=signin.request.get("renew") == "true", gateway=False,
                          method=signin.request.get("method") or "GET")
    cas_service = await _registered(services, wanted.service)
    return await _decide(services, request, wanted, cas_service, resumed=signin)


async def _registered(services: Services, service: str | None) -> CasService | None:
    """The registered service, or the spec's error page (§2.2.1: never a redirect to an
    unknown service)."""
    if service is None:
        return None
    found = await registry(services.db).find(service)
    if found is None:
        raise PageError(403, "cas_unknown_service_title", "cas_unknown_service")
    return found


async def _decide(services: Services, request: Request, wanted: LoginRequest,
                  cas_service: CasService | None, *, resumed: PendingSignIn | None) -> Response:
    session = await services.sessions.get(session_id(request, services.settings))
    # the sign-in being resumed was finished by this browser's current session just now
    # (a choice of identity in between passes the login's freshness on, never makes one)
    fresh = resumed is not None and session is not None and resumed.sid == session.sid \
        and (resumed.page == "login" or resumed.extra.get("fresh") is True)
    reason: str | None = None
    person: Person | None = None
    if session is None:
        reason = "no_session"
    elif wanted.renew and not fresh:
        reason = "prompt_login"
    else:
        person = await services.directory.by_subject(session.subject)
        if person is None or person.disabled:
            reason = "account_unavailable"
        elif cas_service is not None and _needs_step_up(services, cas_service, session, person):
            reason = "mfa"
    if reason is not None:
        if wanted.gateway and wanted.service:
            # §2.1.1: no page, back to the service without a ticket
            return RedirectResponse(wanted.service, status_code=303, headers=NO_STORE)
        return await _park(services, wanted, cas_service, reason)
    assert session is not None and person is not None
    if cas_service is None or wanted.service is None:
        # no service: the person is signed in (§2.1.1, §2.2.4); the account page says as whom
        return RedirectResponse("/account", status_code=303, headers=NO_STORE)
    rule = AccessRule.of(cas_service.extra)
    outcome = await identity_for_app(services, session, person, cas_service.app_id, rule,
                                     resumed=resumed)
    if outcome.person is None:
        if wanted.gateway:
            return RedirectResponse(wanted.service, status_code=303, headers=NO_STORE)
        return await _park(services, wanted, cas_service, "identity", page="identity",
                           sid=session.sid,
                           extra=choice_extra(outcome.candidates) | {"fresh": fresh})
    if outcome.person.subject != person.subject \
            and _needs_step_up(services, cas_service, session, outcome.person):
        # the identity settled on requires a second factor the session has not shown
        if wanted.gateway:
            return RedirectResponse(wanted.service, status_code=303, headers=NO_STORE)
        return await _park(services, wanted, cas_service, "mfa",
                           extra={"identity": outcome.person.subject})
    person = outcome.person
    if not rule.allows(person):
        # outside the service's rule (idp/sso/access.py): no ticket
        await services.audit.record("access", "denied", actor=person.username,
                                    client_id=cas_service.app_id, ip=client_ip(request),
                                    protocol="cas")
        if wanted.gateway:
            return RedirectResponse(wanted.service, status_code=303, headers=NO_STORE)
        raise refusal(cas_service.name, services.settings.site.support_contact)
    return await _issue(services, request, wanted, cas_service, session, person, fresh)


def _needs_step_up(services: Services, cas_service: CasService, session: SsoSession,
                   person: Person) -> bool:
    if has_second_factor(session.amr, session.acr):
        return False
    return mfa_requirement(services.settings, client_extra=cas_service.extra, person=person,
                           acr_values=[]) is not None


async def _park(services: Services, wanted: LoginRequest, cas_service: CasService | None,
                reason: str, *, page: Page = "login", sid: str | None = None,
                extra: dict[str, Any] | None = None) -> Response:
    site = services.settings.site
    signin = await services.signins.start(
        protocol="cas", resume=RESUME, page=page, sid=sid, extra=extra or {},
        app_id=cas_service.app_id if cas_service else "",
        app_name=cas_service.name if cas_service else site.campus_name_zh,
        scopes=[], reason=reason,
        request={"service": wanted.service or "", "renew": "true" if wanted.renew else "",
                 "method": wanted.method},
    )
    return RedirectResponse(signin.page_url, status_code=303, headers=NO_STORE)


async def _issue(services: Services, request: Request, wanted: LoginRequest,
                 cas_service: CasService, session: SsoSession, person: Person,
                 new_login: bool) -> Response:
    assert wanted.service is not None
    ticket = await issue_remembered(services, "ST-", Ticket(
        service=wanted.service, app_id=cas_service.app_id, subject=person.subject,
        sid=session.sid, auth_time=session.auth_time, new_login=new_login,
        amr=list(session.amr)), session.sid)
    await services.audit.record("cas", "ticket_issued", actor=person.username,
                                client_id=cas_service.app_id, ip=client_ip(request),
                                new_login=new_login)
    return deliver(wanted, ticket)


async def issue_remembered(services: Services, prefix: str, ticket: Ticket, sid: str) -> str:
    """Issue a service or proxy ticket for `ticket.service` and remember, in the same Store
    round trip, that session `sid` now signs into that service: single logout tells it, naming
    the ticket as the SessionIndex (Appendix C)."""
    ticket_id, item = tickets_of(services).prepare(prefix, ticket)
    puts, members = services.sessions.client_link(sid, ticket.app_id)
    members.append((f"cas-slo:{sid}", json.dumps([ticket.app_id, ticket.service, ticket_id]),
                    services.sessions.ttl))
    await services.store.write_many([item, *puts], members)
    return ticket_id


def with_ticket(service: str, ticket: str) -> str:
    parts = urlsplit(service)
    query = "&".join(q for q in (parts.query, urlencode({"ticket": ticket})) if q)
    return urlunsplit(parts._replace(query=query))


# the one script of the POST answer: allowed by its hash, nothing else may run on that page
_AUTOSUBMIT = "document.forms[0].submit();"
_AUTOSUBMIT_CSP = ("default-src 'none'; script-src 'sha256-"
                   + base64.b64encode(hashlib.sha256(_AUTOSUBMIT.encode()).digest()).decode()
                   + "'; form-action *; base-uri 'none'; frame-ancestors 'none'")


def deliver(wanted: LoginRequest, ticket: str) -> Response:
    """The ticket to the service the way it asked (§2.1.1 `method`): a redirect (GET), a form
    the browser posts itself (POST), or response headers (HEADER)."""
    assert wanted.service is not None
    if wanted.method == "POST":
        html = (f'<!doctype html><html><body><form method="post" action="{escape(wanted.service)}">'
                f'<input type="hidden" name="ticket" value="{escape(ticket)}">'
                '<noscript><button type="submit">Continue</button></noscript></form>'
                f"<script>{_AUTOSUBMIT}</script></body></html>")
        return HTMLResponse(html, headers={**NO_STORE, "Content-Security-Policy": _AUTOSUBMIT_CSP})
    if wanted.method == "HEADER":
        return Response(b"", headers={**NO_STORE, "service": wanted.service, "ticket": ticket})
    # Appendix B: the browser must GET the service; 303 says so after a POST as well
    return RedirectResponse(with_ticket(wanted.service, ticket), status_code=303,
                            headers=NO_STORE)
