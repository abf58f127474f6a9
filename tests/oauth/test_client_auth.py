"""Client authentication at the token endpoint (RFC 6749 §2.3, §5.2; OIDC Core §9; RFC 7523):
client_secret_basic, client_secret_post, private_key_jwt, none."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.db.models import Client
from idp.protocols.oidc.clients import (
    create_client,
    hash_secret,
    validate_redirect_uri,
    verify_secret,
)
from idp.sso.apps import invalidate_client
from tests.oauth.flow import REDIRECT, Browser, exchange, pkce_pair, register
from tests.support.server import LiveIdp

CC = {"grant_type": "client_credentials"}


async def machine(live: LiveIdp, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("grant_types", ["client_credentials"])
    return await register(live, redirect_uris=[], scopes=["api.read"], **kwargs)


async def test_basic_right_and_wrong_secret(live: LiveIdp) -> None:
    client = await machine(live)
    async with live.client() as http:
        ok = await http.post("/token", data=CC, auth=client.basic)
        bad = await http.post("/token", data=CC, auth=(client.client_id, "wrong"))
        unknown = await http.post("/token", data=CC, auth=("nobody", "x"))
    assert ok.status_code == 200
    for response in (bad, unknown):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_client_secret_post(live: LiveIdp) -> None:
    client = await machine(live, token_endpoint_auth_method="client_secret_post")
    async with live.client() as http:
        ok = await http.post("/token", data={**CC, "client_id": client.client_id,
                                             "client_secret": client.secret})
        # a client registered for _post may not switch to Basic (its registered method only)
        basic = await http.post("/token", data=CC, auth=client.basic)
    assert ok.status_code == 200, ok.text
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"


async def test_previous_secret_works_until_it_expires(live: LiveIdp) -> None:
    client = await machine(live)
    new_secret = secrets.token_urlsafe(32)
    async with live.services.db() as db, db.begin():
        row = await db.get(Client, client.client_id)
        row.previous_secret_digest = row.secret_digest
        row.previous_secret_expires = datetime.now(UTC) + timedelta(hours=1)
        row.secret_digest = hash_secret(new_secret)
    invalidate_client(live.services.db, client.client_id)
    async with live.client() as http:
        assert (await http.post("/token", data=CC, auth=client.basic)).status_code == 200
        assert (await http.post("/token", data=CC,
                                auth=(client.client_id, new_secret))).status_code == 200
    async with live.services.db() as db, db.begin():
        row = await db.get(Client, client.client_id)
        row.previous_secret_expires = datetime.now(UTC) - timedelta(seconds=1)
    invalidate_client(live.services.db, client.client_id)
    async with live.client() as http:
        assert (await http.post("/token", data=CC, auth=client.basic)).status_code == 401


async def test_inactive_client_is_invalid(live: LiveIdp) -> None:
    client = await machine(live, status="disabled")
    async with live.client() as http:
        response = await http.post("/token", data=CC, auth=client.basic)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def rsa_client_key() -> tuple[RSAKey, dict]:
    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4)})
    return key, {"keys": [key.as_dict(private=False)]}


async def test_private_key_jwt_through_authlib_client(live: LiveIdp) -> None:
    key, public = rsa_client_key()
    client = await machine(live, token_endpoint_auth_method="private_key_jwt", jwks=public)
    assert client.secret is None
    token_url = f"{live.settings.issuer}/token"
    async with AsyncOAuth2Client(client.client_id, key,
                                 token_endpoint_auth_method=PrivateKeyJWT(token_url)) as rp:
        token = await rp.fetch_token(token_url, grant_type="client_credentials")
    assert token["access_token"] and token["scope"] == "api.read"


def assertion(key: RSAKey, client_id: str, audience: str, **claims) -> str:  # type: ignore[no-untyped-def]
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
               "exp": now + 60, "jti": secrets.token_urlsafe(12), **claims}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key)


async def test_private_key_jwt_replay_and_wrong_key(live: LiveIdp) -> None:
    key, public = rsa_client_key()
    client = await machine(live, token_endpoint_auth_method="private_key_jwt", jwks=public)
    audience = f"{live.settings.issuer}/token"
    signed = assertion(key, client.client_id, audience)
    form = {**CC, "client_assertion_type":
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    async with live.client() as http:
        first = await http.post("/token", data={**form, "client_assertion": signed})
        replay = await http.post("/token", data={**form, "client_assertion": signed})
        other_key, _ = rsa_client_key()
        forged = await http.post("/token", data={**form, "client_assertion": assertion(
            other_key, client.client_id, audience)})
        wrong_aud = await http.post("/token", data={**form, "client_assertion": assertion(
            key, client.client_id, "https://elsewhere.example")})
        expired = await http.post("/token", data={**form, "client_assertion": assertion(
            key, client.client_id, audience, exp=int(time.time()) - 600)})
    assert first.status_code == 200, first.text
    for response in (replay, forged, wrong_aud, expired):
        assert response.status_code in (400, 401), response.text
        assert response.json()["error"] == "invalid_client"


async def test_public_client_with_pkce(live: LiveIdp, browser: Browser) -> None:
    public = await register(live, public=True, skip_consent=True)
    assert public.secret is None
    verifier, challenge = pkce_pair()
    code, _ = await browser.code(public, code_challenge=challenge, code_challenge_method="S256")
    response = await exchange(live, public, code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    # a public client's code without the verifier is refused
    code, _ = await browser.code(public, code_challenge=challenge, code_challenge_method="S256")
    response = await exchange(live, public, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_confidential_client_cannot_skip_authentication(live: LiveIdp, browser: Browser,
                                                              first_party) -> None:
    code, _ = await browser.code(first_party)
    async with live.client() as http:
        response = await http.post("/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": first_party.client_id})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_secret_digests_compare() -> None:
    row = Client(client_id="c", name="c", secret_digest=hash_secret("s3cret"),
                 token_endpoint_auth_method="client_secret_basic")
    assert verify_secret(row, "s3cret")
    assert not verify_secret(row, "s3cret ")
    assert not verify_secret(row, "")
    assert len(hash_secret("x")) == 64


@pytest.mark.parametrize("uri", [
    "javascript:alert(1)", "data:text/html,hi", "/relative/cb", "https://rp.example/cb#frag",
    "http://rp.example.edu/cb", "ftp://rp.example.edu/cb", "", " https://rp.example/cb",
])
def test_bad_redirect_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValueError):
        validate_redirect_uri(uri)


@pytest.mark.parametrize("uri", ["https://rp.example.edu/cb?x=1", "http://localhost:8080/cb",
                                 "http://127.0.0.1/cb", "http://[::1]:3000/cb"])
def test_good_redirect_uris_are_accepted(uri: str) -> None:
    assert validate_redirect_uri(uri) == uri


async def test_create_client_rejects_bad_metadata(live: LiveIdp) -> None:
    db = live.services.db
    with pytest.raises(ValueError, match="redirect URI"):
        await create_client(db, name="x", redirect_uris=["javascript:alert(1)"])
    with pytest.raises(ValueError, match="JWKS"):
        await create_client(db, name="x", redirect_uris=[REDIRECT],
                            token_endpoint_auth_method="private_key_jwt")
    with pytest.raises(ValueError, match="grant type"):
        await create_client(db, name="x", redirect_uris=[REDIRECT], grant_types=["password"])
    with pytest.raises(ValueError, match="name"):
        await create_client(db, name=" ", redirect_uris=[REDIRECT])
