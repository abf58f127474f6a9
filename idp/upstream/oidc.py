"""A generic OpenID Connect provider upstream (another university, a provincial education
cloud): OpenID Connect Core 1.0 §3.1, the authorization code flow, as a relying party.

- the provider is found by its issuer URL (OpenID Connect Discovery 1.0 §4), whose `issuer`
  must be that URL exactly (§4.3), and its signing keys at `jwks_uri`;
- every trip carries `state` (the round trip's key), `nonce` (§3.1.2.1, checked in the ID
  token) and PKCE S256 (RFC 7636), whether or not the provider requires it;
- the code is redeemed with authlib's OAuth 2.0 client (client_secret_basic, RFC 6749 §2.3.1);
- the ID token is verified as §3.1.3.7 says: signed by a key of the provider's JWKS with an
  algorithm it announced (never `none`, never HMAC with the secret), `iss` the issuer, `aud`
  our client id (and `azp` it when there are several), `exp`/`iat`, and our nonce.
The account is the ID token's `sub` in the account space of `iss`.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.upstream.base import (
    Connector,
    RoundTrip,
    UpstreamAccount,
    UpstreamError,
    UpstreamUnavailable,
    get_json,
)

DISCOVERY_TTL = 3600  # seconds the provider's metadata and keys are trusted before a re-read
JWKS_RETRY = 60  # an unknown key id re-reads the keys at most this often (key rotation)
SIGNING_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                "EdDSA"}
CLOCK_SKEW = 60


class OidcConnector(Connector):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > DISCOVERY_TTL:
            issuer = self.config.issuer
            async with self.client() as http:
                found = await get_json(http, "GET", f"{issuer}/.well-known/openid-configuration")
            if found.get("issuer") != issuer:
                raise UpstreamError(f"discovery of {issuer} names issuer {found.get('issuer')!r}")
            for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(endpoint), str):
                    raise UpstreamError(f"discovery of {issuer} has no {endpoint}")
            self._metadata, self._metadata_at, self._keys = found, time.monotonic(), None
        return self._metadata

    async def keys(self, *, reread: bool = False) -> KeySet:
        metadata = await self.metadata()
        stale = time.monotonic() - self._keys_at > (JWKS_RETRY if reread else DISCOVERY_TTL)
        if self._keys is None or stale:
            async with self.client() as http:
                found = await get_json(http, "GET", metadata["jwks_uri"])
            try:
                self._keys = KeySet.import_key_set(found)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise UpstreamError(f"{metadata['jwks_uri']}: not a JWK set ({exc})") from None
            self._keys_at = time.monotonic()
        return self._keys

    def _oauth(self, trip: RoundTrip) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self.config.client_id, self.config.client_secret.get_secret_value(),
            scope=self.config.scope or "openid", redirect_uri=trip.redirect_uri,
            code_challenge_method="S256", timeout=self.config.timeout)

    async def authorization_url(self, trip: RoundTrip) -> str:
        metadata = await self.metadata()
        async with self._oauth(trip) as oauth:
            url, _ = oauth.create_authorization_url(
                metadata["authorization_endpoint"], state=trip.state,
                code_verifier=trip.code_verifier, nonce=trip.nonce)
        return str(url)

    async def account(self, code: str, trip: RoundTrip) -> UpstreamAccount:
        metadata = await self.metadata()
        try:
            async with self._oauth(trip) as oauth:
                token = await oauth.fetch_token(metadata["token_endpoint"], code=code,
                                                code_verifier=trip.code_verifier)
        except OAuthError as exc:
            raise UpstreamError(f"token endpoint: {exc.error} {exc.description or ''}") from None
        except Exception as exc:  # httpx's errors, and authlib's on a body that is not JSON
            if exc.__class__.__module__.startswith("httpx"):
                raise UpstreamUnavailable(f"token endpoint: {type(exc).__name__}") from None
            raise UpstreamError(f"token endpoint: {type(exc).__name__}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamError("the token response has no id_token")
        claims = await self.verify_id_token(id_token, trip.nonce)
        name = claims.get("name") or claims.get("preferred_username")
        if not name:
            name = await self._userinfo_name(metadata, token, claims["sub"])
        return UpstreamAccount(provider=self.name, issuer=self.config.issuer,
                               external_id=str(claims["sub"]),
                               display_name=str(name)[:200] if name else None)

    async def _userinfo_name(self, metadata: dict[str, Any], token: dict[str, Any],
                             sub: str) -> str | None:
        """The person's name for the binding lists, from userinfo (§5.3) when the ID token has
        none (providers put profile claims there when an access token is issued, §5.4). Only
        a label: any failure leaves it out, and a response for another `sub` is ignored
        (§5.3.2)."""
        endpoint = metadata.get("userinfo_endpoint")
        access_token = token.get("access_token")
        if not isinstance(endpoint, str) or not isinstance(access_token, str):
            return None
        try:
            async with self.client() as http:
                info = await get_json(http, "GET", endpoint,
                                      headers={"Authorization": f"Bearer {access_token}"})
        except UpstreamError:
            return None
        if info.get("sub") != sub:
            return None
        name = info.get("name") or info.get("preferred_username")
        return name if isinstance(name, str) else None

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        metadata = await self.metadata()
        announced = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in announced if alg in SIGNING_ALGS]
        if not algorithms:
            raise UpstreamError(f"the provider signs ID tokens with none of {sorted(SIGNING_ALGS)}")
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), algorithms=algorithms)
            except JoseError:
                # perhaps signed with a key the provider added since we read its keys
                token = jwt.decode(id_token, await self.keys(reread=True), algorithms=algorithms)
            client_id = self.config.client_id
            jwt.JWTClaimsRegistry(
                leeway=CLOCK_SKEW,
                iss={"essential": True, "value": self.config.issuer},
                sub={"essential": True},
                aud={"essential": True, "value": client_id},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise UpstreamError(f"ID token refused: {exc}") from None
        claims = token.claims
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != client_id:
            raise UpstreamError("ID token refused: several audiences and azp is not our client")
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= 200:
            raise UpstreamError("ID token refused: sub is not a string of 1-200 characters")
        return claims
