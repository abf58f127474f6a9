"""The authorization code grant at /token: RFC 6749 §4.1.3-4.1.4, §5, RFC 7636, RFC 9068,
OIDC Core §3.1.3. The happy path is driven by authlib's AsyncOAuth2Client."""

from __future__ import annotations

import asyncio
import secrets

from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from sqlalchemy import select

from idp.db.models import AuditEvent
from tests.oauth.flow import (
    REDIRECT,
    Browser,
    exchange,
    jwks,
    pkce_pair,
    register,
    verify_id_token,
)
from tests.support.server import LiveIdp


async def test_code_flow_with_pkce_through_authlib_client(live: LiveIdp, browser: Browser,
                                                          first_party) -> None:
    issuer = live.settings.issuer
    verifier = secrets.token_urlsafe(48)
    async with AsyncOAuth2Client(first_party.client_id, first_party.secret,
                                 scope="openid profile email offline_access",
                                 redirect_uri=REDIRECT, code_challenge_method="S256") as rp:
        url, state = rp.create_authorization_url(f"{issuer}/authorize", code_verifier=verifier,
                                                 nonce="nonce-123")
        response = await browser.visit(url)
        assert browser.pages == ["login", "authorize"]
        callback = response.headers["location"]
        assert callback.startswith(REDIRECT)
        token = await rp.fetch_token(f"{issuer}/token", authorization_response=callback,
                                     code_verifier=verifier)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == live.settings.tokens.access_token_ttl
    assert token["scope"] == "openid profile email offline_access"
    assert token["refresh_token"]
    claims = await verify_id_token(live, token["id_token"], first_party.client_id)
    assert claims["nonce"] == "nonce-123"
    assert claims["at_hash"] == create_half_hash(token["access_token"], "RS256").decode()
    assert claims["email"] == "student@example.edu"
    assert claims["sid"] and claims["auth_time"] <= claims["iat"]
    assert state


async def test_access_token_is_an_rfc9068_jwt(live: LiveIdp, first_party) -> None:
    from tests.oauth.flow import tokens_for

    token = await tokens_for(live, first_party, scope="openid profile")
    decoded = jwt.decode(token["access_token"], await jwks(live), algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    for name in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope", "auth_time",
                 "sid"):
        assert name in claims, name
    assert claims["iss"] == live.settings.issuer
    assert claims["client_id"] == first_party.client_id
    assert claims["aud"] == f"{live.settings.issuer}/userinfo"
    assert claims["scope"] == "openid profile"


async def test_resource_indicator_sets_the_audience(live: LiveIdp, first_party) -> None:
    from tests.oauth.flow import tokens_for

    token = await tokens_for(live, first_party, scope="openid",
                             resource="https://api.example.edu")
    claims = jwt.decode(token["access_token"], await jwks(live)).claims
    assert claims["aud"] == ["https://api.example.edu", f"{live.settings.issuer}/userinfo"]


async def test_token_response_is_not_cacheable(live: LiveIdp, browser: Browser,
                                               first_party) -> None:
    code, _ = await browser.code(first_party)
    response = await exchange(live, first_party, code)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_no_refresh_token_without_offline_access(live: LiveIdp, first_party) -> None:
    from tests.oauth.flow import tokens_for

    token = await tokens_for(live, first_party, scope="openid profile")
    assert "refresh_token" not in token
    token = await tokens_for(live, first_party, scope="profile")  # plain OAuth, no openid
    assert token["refresh_token"] and "id_token" not in token


async def test_es256_client_gets_es256_id_tokens(live: LiveIdp, browser: Browser) -> None:
    client = await register(live, skip_consent=True, id_token_signed_response_alg="ES256")
    code, _ = await browser.code(client)
    token = (await exchange(live, client, code)).json()
    decoded = jwt.decode(token["id_token"], await jwks(live), algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    assert decoded.claims["at_hash"] == create_half_hash(token["access_token"], "ES256").decode()


async def test_redirect_uri_must_match(live: LiveIdp, browser: Browser, first_party) -> None:
    code, _ = await browser.code(first_party)
    response = await exchange(live, first_party, code, redirect_uri=REDIRECT + "?x=1")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_code_is_bound_to_its_client(live: LiveIdp, browser: Browser, first_party) -> None:
    other = await register(live, skip_consent=True)
    code, _ = await browser.code(first_party)
    response = await exchange(live, other, code)
    assert response.json()["error"] == "invalid_grant"


async def test_unknown_code_and_missing_code(live: LiveIdp, first_party) -> None:
    response = await exchange(live, first_party, "not-a-code")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    async with live.client() as http:
        response = await http.post("/token", data={"grant_type": "authorization_code"},
                                   auth=first_party.basic)
    assert response.json()["error"] == "invalid_request"


async def test_pkce_verifier_is_checked(live: LiveIdp, browser: Browser, first_party) -> None:
    verifier, challenge = pkce_pair()
    code, _ = await browser.code(first_party, code_challenge=challenge,
                                 code_challenge_method="S256")
    response = await exchange(live, first_party, code, code_verifier=pkce_pair()[0])
    assert response.json()["error"] == "invalid_grant"
    code, _ = await browser.code(first_party, code_challenge=challenge,
                                 code_challenge_method="S256")
    response = await exchange(live, first_party, code)
    assert response.json()["error"] == "invalid_request"
    code, _ = await browser.code(first_party, code_challenge=challenge,
                                 code_challenge_method="S256")
    response = await exchange(live, first_party, code, code_verifier=verifier)
    assert response.status_code == 200


async def test_unsupported_grant_type(live: LiveIdp, first_party) -> None:
    async with live.client() as http:
        response = await http.post("/token", data={"grant_type": "password"},
                                   auth=first_party.basic)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_tokens_and_failures_are_audited(live: LiveIdp, browser: Browser,
                                               first_party) -> None:
    code, _ = await browser.code(first_party)
    assert (await exchange(live, first_party, code)).status_code == 200
    assert (await exchange(live, first_party, code)).status_code == 400
    await live.services.audit.caught_up()  # a token issued is audited behind its response
    async with live.services.db() as db:
        rows = (await db.scalars(select(AuditEvent).where(
            AuditEvent.kind == "token", AuditEvent.client_id == first_party.client_id))).all()
    outcomes = [row.outcome for row in rows]
    assert "success" in outcomes and "invalid_grant" in outcomes
    success = next(row for row in rows if row.outcome == "success")
    assert success.detail["grant"] == "authorization_code" and success.actor


async def test_a_code_redeemed_twice_at_once_leaves_no_usable_token(
        live: LiveIdp, browser: Browser, first_party) -> None:
    """The code is taken and its trace left in one atomic step, so a concurrent second
    redemption always meets the trace (never a moment with neither) and revokes what the first
    issued (RFC 6749 §4.1.2): if the first had not finished issuing, it sends nothing at all."""
    for _ in range(3):
        code, _ = await browser.code(first_party, scope="openid offline_access")
        results = await asyncio.gather(*(exchange(live, first_party, code) for _ in range(2)))
        statuses = sorted(r.status_code for r in results)
        assert statuses in ([200, 400], [400, 400]), [r.text for r in results]
        assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code == 400)
        for winner in (r.json() for r in results if r.status_code == 200):
            async with live.client() as http:
                userinfo = await http.get("/userinfo", headers={
                    "Authorization": f"Bearer {winner['access_token']}"})
                refreshed = await http.post("/token", auth=first_party.basic, data={
                    "grant_type": "refresh_token", "refresh_token": winner["refresh_token"]})
            assert userinfo.status_code == 401
            assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
