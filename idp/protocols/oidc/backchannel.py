"""OpenID Connect Back-Channel Logout 1.0: how OIDC tells its apps that a session ended.

The sign-in core's single logout (idp/sso/logout.py) hands over the session and the apps it
signed into; `BackChannelLogout.notify` POSTs a logout token to every one of them that registered
a `backchannel_logout_uri`, concurrently (bounded), each delivery retried and recorded
(idp/sso/deliveries.py).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from idp.db.models import Client
from idp.sso.deliveries import MAX_CONCURRENT_DELIVERIES, Deliveries, delivery_client
from idp.sso.sessions import SsoSession

if TYPE_CHECKING:
    from idp.services import Services

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # seconds; the RP checks it at once, a short life limits replay


def logout_token(services: Services, client: Client, *, subject: str, sid: str) -> str:
    """A logout token (Back-Channel Logout 1.0 §2.4): iss, aud, iat, exp, jti, sub, sid and
    the events claim, never a nonce (§2.4 forbids one, so it cannot pass as an ID token);
    header typ "logout+jwt" (§2.4, and RFC 8725 §3.11 explicit typing)."""
    now = int(time.time())
    claims = {
        "iss": services.settings.issuer, "aud": client.client_id, "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL, "jti": secrets.token_urlsafe(16), "sub": subject,
        "sid": sid, "events": {BACKCHANNEL_EVENT: {}},
    }
    alg = client.id_token_signed_response_alg
    return services.keys.sign(claims, alg=alg if alg in ("RS256", "ES256") else "RS256",
                              typ="logout+jwt")


class BackChannelLogout:
    """The OIDC notifier of the sign-in core's single logout."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def notify(self, session: SsoSession, apps: set[str]) -> dict[str, str]:
        clients = await self._backchannel_clients(apps)
        if not clients:
            return {}
        limit = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        deliveries = Deliveries(self.services.db, self.services.audit)
        # each app hears of the identity it was given (idp/sso/identities.py)
        subjects = {client.client_id: await self.services.sessions.subject_for(
            session, client.client_id) for client in clients}
        async with delivery_client() as http:
            outcomes = await asyncio.gather(*(
                deliveries.post(http, limit, client_id=client.client_id,
                                uri=client.backchannel_logout_uri or "",
                                subject=subjects[client.client_id], sid=session.sid,
                                # a fresh jti per attempt: an RP that saw the jti before
                                # failing may reject a replay
                                form=self._form(client, session, subjects[client.client_id]))
                for client in clients))
        return {client.client_id: outcome
                for client, outcome in zip(clients, outcomes, strict=True)}

    def _form(self, client: Client, session: SsoSession,
              subject: str) -> Callable[[], dict[str, str]]:
        return lambda: {"logout_token": logout_token(self.services, client,
                                                     subject=subject, sid=session.sid)}

    async def _backchannel_clients(self, apps: set[str]) -> list[Client]:
        async with self.services.db() as db:
            rows = await db.execute(select(Client).where(
                Client.client_id.in_(sorted(apps)), Client.protocol == "oidc",
                Client.backchannel_logout_uri.is_not(None)))
            return [c for c in rows.scalars() if c.backchannel_logout_uri]
