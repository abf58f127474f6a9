"""/cas/logout (CAS Protocol 3.0 §2.3) and CAS single logout (§2.3.3, Appendix C).

/cas/logout ends the SSO session everywhere (the sign-in core's single logout: OIDC apps hear
of it by back-channel logout, CAS services by a SAML LogoutRequest) and then redirects to
`service` only when that is a registered service (§2.3.2; the old `url` parameter is ignored),
else shows the signed-out page.

`CasSingleLogout` is CAS's notifier: every service ticket issued in the session was remembered
with its service (login.issue_remembered); each service registered with a single logout URL
gets a POST with `logoutRequest`, whose SessionIndex is that ticket, delivered and retried like
back-channel logout (idp/sso/deliveries.py). The session's proxy-granting tickets end with it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.protocols.cas.login import NO_STORE, tickets_of
from idp.protocols.cas.registry import registry
from idp.sso.cookie import clear_session_cookie, session_id
from idp.sso.deliveries import MAX_CONCURRENT_DELIVERIES, Deliveries, delivery_client
from idp.sso.sessions import SsoSession

if TYPE_CHECKING:
    from idp.services import Services


async def logout(services: Services, request: Request) -> Response:
    sid = session_id(request, services.settings)
    if sid and await services.sessions.get(sid) is not None:
        await services.logout.end(sid, reason="cas_logout")
    service = request.query_params.get("service")
    target = "/logout/done"
    if service and await registry(services.db).find(service) is not None:
        target = service
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    clear_session_cookie(response, services.settings)
    return response


def logout_request(ticket: str) -> str:
    """The SAML 2.0 LogoutRequest of Appendix C."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ('<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            f'ID="LR-{secrets.token_hex(16)}" Version="2.0" IssueInstant="{now}">'
            "<saml:NameID>@NOT_USED@</saml:NameID>"
            f"<samlp:SessionIndex>{escape(ticket)}</samlp:SessionIndex>"
            "</samlp:LogoutRequest>")


class CasSingleLogout:
    """The CAS notifier of the sign-in core's single logout."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def notify(self, session: SsoSession, apps: set[str]) -> dict[str, str]:
        services = self.services
        key = f"cas-slo:{session.sid}"
        entries = [json.loads(raw) for raw in await services.store.set_members(key)]
        await services.store.delete(key)
        await tickets_of(services).end_session(session.sid)
        # one notice per service and ticket, to the URL the service registered for it
        notices: list[tuple[str, str, str]] = []
        for app_id, _service, ticket in entries:
            cas_service = await registry(services.db).by_id(app_id)
            if cas_service is not None and cas_service.slo_url:
                notices.append((app_id, cas_service.slo_url, ticket))
        if not notices:
            return {}
        limit = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        deliveries = Deliveries(services.db, services.audit)
        async with delivery_client() as http:
            outcomes = await asyncio.gather(*(
                deliveries.post(http, limit, client_id=app_id, uri=uri,
                                subject=session.subject, sid=session.sid,
                                form=lambda ticket=ticket: {"logoutRequest": logout_request(ticket)})
                for app_id, uri, ticket in notices))
        result: dict[str, str] = {}
        for (app_id, _uri, _ticket), outcome in zip(notices, outcomes, strict=True):
            # an app is delivered when every one of its notices was
            if result.get(app_id) != "failed":
                result[app_id] = outcome
        return result
