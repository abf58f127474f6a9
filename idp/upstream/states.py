"""The round trip to an upstream provider, kept in the Store under its `state` (single use).

It remembers which sign-in the trip belongs to, the nonce and the PKCE verifier (which never
leave the server), and the browser that started it (its CSRF cookie): a code brought back by
another browser, say from a link an attacker sent, finds a trip that is not its own.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass

from idp.store.base import Store
from idp.upstream.base import RoundTrip

MAX_STATE = 64


@dataclass(slots=True)
class Trip:
    provider: str
    signin_id: str
    browser: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    silent: bool = False

    @property
    def round_trip(self) -> RoundTrip:
        return RoundTrip(state=self.state, nonce=self.nonce, code_verifier=self.code_verifier,
                         redirect_uri=self.redirect_uri, silent=self.silent)


class Trips:
    def __init__(self, store: Store, ttl: int) -> None:
        self.store = store
        self.ttl = ttl

    async def start(self, *, provider: str, signin_id: str, browser: str, redirect_uri: str,
                    silent: bool = False) -> Trip:
        trip = Trip(provider=provider, signin_id=signin_id, browser=browser,
                    state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                    code_verifier=secrets.token_urlsafe(48), redirect_uri=redirect_uri,
                    silent=silent)
        await self.store.put(f"upstream-trip:{trip.state}", json.dumps(asdict(trip)), self.ttl)
        return trip

    async def take(self, state: str | None) -> Trip | None:
        if not state or len(state) > MAX_STATE:
            return None
        raw = await self.store.take(f"upstream-trip:{state}")
        return Trip(**json.loads(raw)) if raw else None
