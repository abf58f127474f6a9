"""The identity provider's public signing keys, fetched once and kept, for checking tokens
offline (RFC 9068 access tokens at an API, logout tokens at a relying party).

Copy this file next to your app. It reads the discovery document (OIDC Discovery 1.0 §4) to find
`jwks_uri`, keeps the key set for `ttl` seconds, and fetches it again at once when a token names
a key it does not know (the IdP has rotated: its next key is published before it signs, OIDC Core
§10.1.1), but not more than once per `min_refresh` seconds, so garbage tokens cannot make the
app hammer the IdP.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "ES256"]  # what the campus IdP signs with; never "none", never HMAC
MAX_TOKEN_LENGTH = 16 * 1024


class TokenRejected(Exception):
    """A token that must not be trusted; the message says why (safe to log and to return)."""


class JwksCache:
    def __init__(self, issuer: str, *, ttl: float = 300.0, min_refresh: float = 5.0,
                 verify: bool | str = True) -> None:
        self.issuer = issuer.rstrip("/")
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.verify = verify  # True, or a CA bundle path (an internal CA in front of the IdP)
        self._keys: KeySet | None = None
        self._fetched_at = -1e9
        self._jwks_uri: str | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self) -> KeySet:
        async with httpx.AsyncClient(timeout=5.0, verify=self.verify) as http:
            if self._jwks_uri is None:
                response = await http.get(f"{self.issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                metadata = response.json()
                # OIDC Discovery §4.3: the document must name the issuer we asked
                if metadata.get("issuer") != self.issuer:
                    raise TokenRejected("discovery document names another issuer")
                self._jwks_uri = metadata["jwks_uri"]
            response = await http.get(self._jwks_uri)
            response.raise_for_status()
            return KeySet.import_key_set(response.json())

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = self._keys is None or age > self.ttl
            if stale or (refresh and age > self.min_refresh):
                try:
                    self._keys = await self._fetch()
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    if self._keys is None:
                        raise TokenRejected(f"cannot fetch the IdP's keys: {exc}") from None
                    # keep the keys we have: an IdP hiccup must not log everyone out
                self._fetched_at = time.monotonic()
            assert self._keys is not None
            return self._keys

    async def decode(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check the signature only; returns (header, claims). Claims are the caller's job."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("malformed token")
        for attempt in range(2):
            keys = await self.key_set(refresh=attempt > 0)
            try:
                decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
            except InvalidKeyIdError:
                if attempt == 0:
                    continue  # unknown kid: the IdP may have rotated, look once more
                raise TokenRejected("token signed with an unknown key") from None
            except (JoseError, ValueError, TypeError) as exc:
                raise TokenRejected(f"bad token: {exc}") from None
            return dict(decoded.header), dict(decoded.claims)
        raise TokenRejected("token signed with an unknown key")


def check_times(claims: dict[str, Any], *, leeway: int = 30) -> None:
    """exp and iat are required in every token the campus IdP signs (RFC 7519 §4.1.4, §4.1.6)."""
    now = time.time()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise TokenRejected("exp and iat are required")
    if now > exp + leeway:
        raise TokenRejected("token has expired")
    if iat > now + leeway:
        raise TokenRejected("token was issued in the future")


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(
        aud, list) else []
