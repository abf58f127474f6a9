"""Receiving a back-channel logout: OpenID Connect Back-Channel Logout 1.0 §2.5–§2.8.

The IdP POSTs `logout_token=<JWT>` (application/x-www-form-urlencoded) to the URI registered as
the client's `backchannel_logout_uri` when a person logs out anywhere. The app checks the token
(§2.6) and ends its own sessions for that `sid` (or every session of that `sub`), then answers
200. Copy this file (and jwks.py) next to your app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from clients.jwks import JwksCache, TokenRejected, audiences, check_times

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_TOKEN_AGE = 300  # seconds; logout tokens are meant to be used at once


@dataclass(frozen=True)
class LogoutRequest:
    subject: str | None
    sid: str | None


class LogoutTokenVerifier:
    """§2.6 validation, plus replay protection: a jti is accepted once."""

    def __init__(self, keys: JwksCache, client_id: str) -> None:
        self.keys = keys
        self.client_id = client_id
        self._seen_jtis: dict[str, float] = {}  # jti -> when we may forget it

    async def verify(self, token: str) -> LogoutRequest:
        header, claims = await self.keys.decode(token)  # 1-2: signature with the IdP's keys
        # explicit typing (§2.4, RFC 8725 §3.11): an ID token cannot pass as a logout token
        if str(header.get("typ", "")).lower().removeprefix("application/") != "logout+jwt":
            raise TokenRejected("typ must be logout+jwt")
        if claims.get("iss") != self.keys.issuer:  # 3: iss, aud, iat, exp
            raise TokenRejected("wrong issuer")
        if self.client_id not in audiences(claims):
            raise TokenRejected("token is not for this client")
        check_times(claims)
        if time.time() - claims["iat"] > MAX_TOKEN_AGE:
            raise TokenRejected("token is too old")
        subject, sid = claims.get("sub"), claims.get("sid")
        if not isinstance(subject, str) and not isinstance(sid, str):  # 4: sub or sid
            raise TokenRejected("token names neither sub nor sid")
        events = claims.get("events")  # 5: the back-channel logout event, a JSON object
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise TokenRejected("events claim lacks the back-channel logout event")
        if "nonce" in claims:  # 6: a nonce would make it look like an ID token
            raise TokenRejected("logout tokens must not contain a nonce")
        self._remember(claims)  # 7: jti replay
        return LogoutRequest(subject if isinstance(subject, str) else None,
                             sid if isinstance(sid, str) else None)

    def _remember(self, claims: dict[str, Any]) -> None:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise TokenRejected("jti is required")
        now = time.time()
        for old, forget_at in list(self._seen_jtis.items()):
            if forget_at < now:
                del self._seen_jtis[old]
        if jti in self._seen_jtis:
            raise TokenRejected("logout token replayed")
        self._seen_jtis[jti] = max(float(claims["exp"]), now + MAX_TOKEN_AGE) + 60


def logout_error(reason: str) -> dict[str, str]:
    """The §2.8 error body: 400 with an OAuth-style error."""
    return {"error": "invalid_request", "error_description": reason}
