"""Ticket validation (CAS Protocol 3.0 §2.4-2.9) and /proxy (§2.7), as pipelines:

    parameters -> the ticket, taken (one attempt, pass or fail) -> bound to this service?
               -> renew? -> the service still registered, the person still active
               -> proxy callback (pgtUrl) -> the answer (1.0 text, or 2.0/3.0 XML or JSON)

/validate (1.0) and /serviceValidate, /p3/serviceValidate accept service tickets only;
/proxyValidate and /p3/proxyValidate service and proxy tickets. The p3/ endpoints add the
attributes the service may receive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from directory.base import Person
from idp.protocols.cas import responses
from idp.protocols.cas.attributes import release_names, released
from idp.protocols.cas.login import issue_remembered, tickets_of
from idp.protocols.cas.proxy import proxy_callback
from idp.protocols.cas.registry import normalised, registry
from idp.protocols.cas.responses import CasFailure, Success
from idp.protocols.cas.tickets import Ticket, well_formed
from idp.sso.access import AccessRule
from idp.sso.cookie import client_ip

if TYPE_CHECKING:
    from idp.services import Services

MAX_PARAM = 2048


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value and len(value) <= MAX_PARAM else None


async def validate_v1(services: Services, request: Request) -> Response:
    """CAS 1.0 /validate: service tickets only (§2.4: a proxy ticket MUST fail)."""
    try:
        ticket, person = await _checked(services, request, proxies=False)
    except CasFailure:
        return responses.v1_answer(None)
    services.releases.record(person.subject, ticket.app_id, release_names(None))
    return responses.v1_answer(person.username)


async def validate(services: Services, request: Request, *, proxies: bool,
                   attributes: bool) -> Response:
    format_ = responses.response_format(request.query_params.get("format"))
    if format_ is None:  # §2.5.1: an unsupported format is an error, in the default format
        return responses.answer("XML", failure=CasFailure(
            responses.INVALID_REQUEST, "format must be XML or JSON"))
    try:
        success = await _validated(services, request, proxies=proxies, attributes=attributes)
    except CasFailure as failure:
        await services.audit.record("cas", failure.code.lower(), ip=client_ip(request),
                                    service=(_param(request, "service") or "")[:200])
        return responses.answer(format_, failure=failure)
    return responses.answer(format_, success)


async def _validated(services: Services, request: Request, *, proxies: bool,
                     attributes: bool) -> Success:
    ticket, person = await _checked(services, request, proxies=proxies)
    cas_service = await registry(services.db).by_id(ticket.app_id)
    if cas_service is None:  # unregistered in the moment since _checked looked
        raise CasFailure(responses.INVALID_SERVICE, "the service is no longer registered")
    pgt_iou = None
    pgt_url = request.query_params.get("pgtUrl")
    if pgt_url:
        pgt_iou = await proxy_callback(services, cas_service, pgt_url, ticket)
    await services.audit.record("cas", "validated", actor=person.username,
                                client_id=ticket.app_id, ip=client_ip(request),
                                proxied=bool(ticket.proxies))
    carried = released(person, cas_service.attributes, auth_time=ticket.auth_time,
                       new_login=ticket.new_login) if attributes else None
    services.releases.record(person.subject, ticket.app_id, release_names(carried))
    return Success(user=person.username, attributes=carried, pgt_iou=pgt_iou,
                   proxies=list(ticket.proxies))


async def _checked(services: Services, request: Request, *,
                   proxies: bool) -> tuple[Ticket, Person]:
    """The ticket and its person, or CasFailure with the spec's code."""
    service, ticket_id = _param(request, "service"), _param(request, "ticket")
    if not service or not ticket_id:
        raise CasFailure(responses.INVALID_REQUEST, "'service' and 'ticket' are both required")
    if not well_formed(ticket_id, ("ST-", "PT-")):
        raise CasFailure(responses.INVALID_TICKET_SPEC, "the ticket is not a CAS ticket")
    # one validation attempt, pass or fail (§3.1.1, §3.2.1): taken before anything is checked
    ticket = await tickets_of(services).take(ticket_id)
    if ticket_id.startswith("PT-") and not proxies:
        raise CasFailure(responses.INVALID_TICKET_SPEC,
                         "a proxy ticket was passed to an endpoint that validates service "
                         "tickets only: use proxyValidate")
    if ticket is None:
        raise CasFailure(responses.INVALID_TICKET,
                         f"ticket {ticket_id[:8]}… not recognized (unknown, used or expired)")
    if normalised(ticket.service) != normalised(service):
        raise CasFailure(responses.INVALID_SERVICE,
                         "the ticket was issued for another service; it is now invalid")
    if _flag(request.query_params.get("renew")) and not ticket.new_login:
        raise CasFailure(responses.INVALID_TICKET,
                         "renew was asked, and the ticket came from single sign-on, not from a "
                         "login with the password")
    person = await services.directory.by_subject(ticket.subject)
    if person is None or person.disabled:
        raise CasFailure(responses.INVALID_TICKET, "the person is no longer active")
    cas_service = await registry(services.db).by_id(ticket.app_id)
    if cas_service is None:
        raise CasFailure(responses.INVALID_SERVICE, "the service is no longer registered")
    if not AccessRule.of(cas_service.extra).allows(person):
        raise CasFailure(responses.INVALID_TICKET, "the person may not use this service")
    return ticket, person


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() not in ("false", "0", "no")


async def proxy(services: Services, request: Request) -> Response:
    """/proxy (§2.7): a proxy ticket for `targetService`, from a proxy-granting ticket."""
    format_ = responses.response_format(request.query_params.get("format")) or "XML"
    try:
        ticket = await _proxy_ticket(services, request)
    except CasFailure as failure:
        return responses.answer(format_, failure=failure, proxy=True)
    return responses.answer(format_, proxy_ticket=ticket)


async def _proxy_ticket(services: Services, request: Request) -> str:
    pgt, target = _param(request, "pgt"), _param(request, "targetService")
    if not pgt or not target:
        raise CasFailure(responses.INVALID_REQUEST,
                         "'pgt' and 'targetService' parameters are both required")
    tickets = tickets_of(services)
    grant = await tickets.proxy_grant(pgt) if well_formed(pgt, ("PGT-",)) else None
    if grant is None or await services.sessions.get(grant.sid) is None:
        # a PGT dies with the session it came from (§3.3.1)
        raise CasFailure(responses.INVALID_TICKET, "the proxy-granting ticket is not valid")
    target_service = await registry(services.db).find(target)
    if target_service is None:
        raise CasFailure(responses.UNAUTHORIZED_SERVICE,
                         "the target service is not registered with this CAS server")
    # the chain, newest first (§2.6.2): this proxy's callback, then those before it
    return await issue_remembered(services, "PT-", Ticket(
        service=target, app_id=target_service.app_id, subject=grant.subject, sid=grant.sid,
        auth_time=grant.auth_time, new_login=False, proxies=[grant.callback, *grant.proxies]),
        grant.sid)
