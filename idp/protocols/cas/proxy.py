"""The proxy callback (CAS Protocol 3.0 §2.5.4): a service that validates a ticket with `pgtUrl`
gets a proxy-granting ticket, through its callback, only when

1. the callback is one the service registered (else UNAUTHORIZED_SERVICE_PROXY),
2. it is https and its certificate verifies (PKIX, against IDP_CAS_PROXY_CA_FILE or the system's
   CAs) and it answers the GET `pgtUrl?pgtId=…&pgtIou=…` with 200 (else INVALID_PROXY_CALLBACK:
   the validation fails and the proxy-granting ticket is withdrawn).

The response then carries only the IOU; the PGT itself travelled to the callback. A PGT lives
as long as the SSO session it came from, and no longer (§3.3.1).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from idp.protocols.cas import responses
from idp.protocols.cas.login import tickets_of
from idp.protocols.cas.registry import CasService
from idp.protocols.cas.responses import CasFailure
from idp.protocols.cas.tickets import ProxyGrant, Ticket, new_id

if TYPE_CHECKING:
    from idp.services import Services


def _with_ids(callback: str, pgt: str, iou: str) -> str:
    # the callback's own parameters are kept (§2.5.4 step 2)
    parts = urlsplit(callback)
    query = "&".join(q for q in (parts.query, urlencode({"pgtId": pgt, "pgtIou": iou})) if q)
    return urlunsplit(parts._replace(query=query))


async def proxy_callback(services: Services, cas_service: CasService, callback: str,
                         ticket: Ticket) -> str:
    """The PGT IOU for the validation response, or CasFailure."""
    if len(callback) > 2048 or not cas_service.may_proxy_to(callback):
        raise CasFailure(responses.UNAUTHORIZED_SERVICE_PROXY,
                         "this service may not proxy through that callback URL")
    if urlsplit(callback).scheme != "https":
        raise CasFailure(responses.INVALID_PROXY_CALLBACK, "the proxy callback must be https")
    session_left = await services.sessions.time_left(ticket.sid)
    if session_left is None:
        raise CasFailure(responses.INVALID_TICKET, "the single sign-on session has ended")
    tickets = tickets_of(services)
    pgt = await tickets.grant(ProxyGrant(
        callback=callback, app_id=ticket.app_id, subject=ticket.subject, sid=ticket.sid,
        auth_time=ticket.auth_time, proxies=list(ticket.proxies)), session_left)
    iou = new_id("PGTIOU-")
    settings = services.settings.cas
    # PKIX against the campus CA when one is configured, else the system's CAs (§2.5.4)
    verify = ssl.create_default_context(cafile=settings.proxy_ca_file)
    try:
        # no redirects followed: the callback that identifies the proxy is the URL given
        async with httpx.AsyncClient(verify=verify, timeout=settings.callback_timeout,
                                     follow_redirects=False) as http:
            answer = await http.get(_with_ids(callback, pgt, iou))
        ok = answer.status_code == 200
        problem = f"the proxy callback answered HTTP {answer.status_code}"
    except httpx.HTTPError as exc:
        ok, problem = False, f"the proxy callback could not be reached securely ({type(exc).__name__})"
    if not ok:
        await tickets.withdraw(pgt)
        raise CasFailure(responses.INVALID_PROXY_CALLBACK, problem)
    return iou
