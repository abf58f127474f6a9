"""Per-client rate limits on the token endpoints, checked by idp/server/edge.py before the endpoint.

POST /token, /revoke and /device_authorization (whose every call parks a device code and takes a
user code) may be called `token_requests` times, POST /introspect
`introspect_requests` times, per client per `rate_window` seconds ([throttle] settings). A
fixed window in the Store (`ratelimit:{endpoint}:{client}`, counted with an atomic increment
whose TTL starts with the window), so every replica shares one count. Over the limit: 429 with
Retry-After and an OAuth error body, `slow_down` (RFC 8628 §3.5, registered for the token
endpoint in the IANA OAuth Extensions Error registry).

The client is named the way the endpoint will authenticate it (RFC 6749 §2.3.1, RFC 7523 §3):
the HTTP Basic user, else `client_id` in the form body, else the `sub` of a client assertion;
a request naming none is counted per client address. Nothing is verified here: the limit runs
before authentication, so it bounds work, it does not decide access. The form body has to be
read for that; it is buffered (the body limit, checked first, caps its size) and
handed to the endpoint unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope

from idp.http.forms import TooManyFields, is_form, parse_form
from idp.settings import Settings
from idp.sso.throttle import throttle_settings
from idp.store.base import StoreUnavailable

log = logging.getLogger("idp.ratelimit")

LIMITED_PATHS = {"/token": "token", "/revoke": "token", "/introspect": "introspect",
                 "/device_authorization": "token"}
# A process adds its requests to the shared count in batches of 1/SYNC_SHARE of the limit (so
# a limit under SYNC_SHARE is counted exactly, one increment per request), at least every
# SYNC_SECONDS, and always before it refuses. What other replicas have not sent yet is the only
# slack: at most limit/SYNC_SHARE per process. At 30,000 a minute, a round trip to Redis per
# token request bought a precision nobody needs.
SYNC_SHARE = 100
SYNC_SECONDS = 0.25
MAX_TALLIES = 10_000
MAX_CLIENT_ID = 256


def _basic_user(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, _secret = decoded.partition(":")
    return unquote(user) if sep and user else None  # RFC 6749 §2.3.1: form-urlencoded first


def _assertion_subject(assertion: str) -> str | None:
    parts = assertion.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        claims: Any = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


def client_name(headers: Headers, body: bytes) -> str | None:
    """The client a token-endpoint request names, unverified (see the module docstring)."""
    user = _basic_user(headers)
    if user:
        return user[:MAX_CLIENT_ID]
    if not is_form(headers.get("content-type", "")):
        return None
    try:
        form = dict(parse_form(body))
    except TooManyFields:
        return None
    named = form.get("client_id") or (
        _assertion_subject(form["client_assertion"]) if form.get("client_assertion") else None)
    return named[:MAX_CLIENT_ID] if named else None


class ClientRateLimit:
    """`check(scope, receive)` before a request reaches its endpoint (idp/server/edge.py calls it)."""

    def __init__(self, settings: Settings) -> None:
        config = throttle_settings(settings)
        self.limits = {"token": config.token_requests, "introspect": config.introspect_requests}
        self.window = config.rate_window
        self.max_body = config.max_body
        self._tallies: dict[str, _Tally] = {}

    async def check(self, scope: Scope, receive: Receive,
                    services: Any) -> tuple[JSONResponse | None, Receive]:
        """(the 429 to send, or None) and the receive the endpoint must read the body from."""
        endpoint = LIMITED_PATHS.get(scope["path"])
        if endpoint is None or scope["method"] != "POST" or services is None:
            return None, receive
        body, replay = await self._buffer(receive)
        client = client_name(Headers(scope=scope), body)
        if client is None:
            address = scope.get("client")
            client = f"address:{address[0] if address else 'unknown'}"
        return await self._count(services, endpoint, client), replay

    async def _buffer(self, receive: Receive) -> tuple[bytes, Receive]:
        """Read the body (up to max_body; the rest is left for the endpoint) and a receive that
        hands the endpoint every message again."""
        messages: list[Message] = []
        body = b""
        while len(body) <= self.max_body:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return body, replay

    async def _count(self, services: Any, endpoint: str, client: str) -> JSONResponse | None:
        digest = hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        key = f"ratelimit:{endpoint}:{digest}"
        limit = self.limits[endpoint]
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
            if len(self._tallies) > MAX_TALLIES:
                self._forget_idle()
        tally.pending += 1
        now = time.monotonic()
        try:
            if (tally.pending >= max(1, limit // SYNC_SHARE) or now - tally.at >= SYNC_SECONDS
                    or tally.synced + tally.pending > limit):
                # every refusal is decided on a fresh shared count: counted here first, then sent
                sent, tally.pending = tally.pending, 0
                tally.synced, tally.at = await services.store.incr(key, self.window, sent), now
            if tally.synced + tally.pending <= limit:
                return None
            retry_after = await services.store.ttl(key) or self.window
        except StoreUnavailable as exc:
            # the endpoint itself will answer 503; a limiter must not be the reason it cannot
            log.warning("rate limit not applied: %s", exc)
            return None
        return JSONResponse(
            {"error": "slow_down",
             "error_description": f"Too many requests from this client; retry after {retry_after} s."},
            status_code=429,
            headers={"Retry-After": str(max(retry_after, 1)), "Cache-Control": "no-store"},
        )

    def _forget_idle(self) -> None:
        """Bound the memory that made-up client names can take: drop the tallies with nothing
        left to send (their counts live in the Store), then, if still too many, all of them."""
        self._tallies = {k: t for k, t in self._tallies.items() if t.pending}
        if len(self._tallies) > MAX_TALLIES:
            self._tallies = {}


@dataclass
class _Tally:
    """One client's count in this process: the shared count at the last sync, and what was
    counted here since."""

    synced: int = 0
    pending: int = 0
    at: float = float("-inf")
