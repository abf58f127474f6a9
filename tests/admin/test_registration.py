"""RFC 7591 dynamic client registration, driven by a plain HTTP client against the real server,
then a person logs in to the registered client through the real /authorize, login form and
/token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from idp.db.admin_models import InitialAccessToken
from idp.protocols.oidc.clients import hash_secret
from idp.protocols.oidc.registration_store import issue_initial_access_token
from tests.admin.conftest_registration import (  # noqa: F401 - fixtures
    app_metadata,
    as_registered_client,
    http_fixture,
    initial_token_fixture,
    live_fixture,
    register,
    registered,
    set_status,
)
from tests.oauth.flow import REDIRECT, Browser, exchange, verify_id_token
from tests.support.server import LiveIdp


async def test_register_then_log_a_person_in(live: LiveIdp, http: httpx.AsyncClient,
                                             initial_token: str) -> None:
    metadata = app_metadata(post_logout_redirect_uris=["https://rp.example.edu/bye"],
                            backchannel_logout_uri="https://rp.example.edu/backchannel",
                            backchannel_logout_session_required=True,
                            logo_uri="https://rp.example.edu/logo.png",
                            id_token_signed_response_alg="ES256")
    response = await register(http, initial_token, metadata)

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    info = response.json()
    assert info["client_secret"] and info["client_secret_expires_at"] == 0
    assert abs(info["client_id_issued_at"] - datetime.now(UTC).timestamp()) < 60
    assert info["registration_access_token"]
    assert info["registration_client_uri"] == (
        f"{live.settings.issuer}/register/{info['client_id']}")
    assert info["status"] == "active"
    for key in ("client_name", "redirect_uris", "grant_types", "response_types", "scope",
                "post_logout_redirect_uris", "backchannel_logout_uri", "contacts", "logo_uri",
                "backchannel_logout_session_required", "id_token_signed_response_alg"):
        assert info[key] == metadata[key], key
    assert info["token_endpoint_auth_method"] == "client_secret_basic"  # RFC 7591 §2 default

    client = await as_registered_client(live, info)
    assert client.row.secret_digest == hash_secret(info["client_secret"])  # only a digest kept
    browser = Browser.open(live)
    try:
        code, _ = await browser.code(client, scope="openid profile offline_access")
    finally:
        await browser.close()
    assert "login" in browser.pages
    tokens = await exchange(live, client, code)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["refresh_token"]
    claims = await verify_id_token(live, body["id_token"], info["client_id"])
    assert claims["name"] == "张三"  # the demo student, from the directory


async def test_defaults_follow_rfc_7591(http: httpx.AsyncClient, initial_token: str) -> None:
    info = await registered(http, initial_token, grant_types=None, response_types=None,
                            scope=None)
    assert info["grant_types"] == ["authorization_code"]
    assert info["response_types"] == ["code"]
    assert info["scope"] == "openid profile email phone offline_access"
    assert info["status"] == "active"
    assert "jwks" not in info and "backchannel_logout_uri" not in info


async def test_a_public_client_gets_no_secret(http: httpx.AsyncClient, initial_token: str) -> None:
    info = await registered(http, initial_token, token_endpoint_auth_method="none",
                            redirect_uris=["http://127.0.0.1:8765/callback"])
    assert "client_secret" not in info and "client_secret_expires_at" not in info
    assert info["token_endpoint_auth_method"] == "none"


async def test_no_token_is_401(http: httpx.AsyncClient) -> None:
    response = await register(http, None, app_metadata())
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_wrong_token_is_401(http: httpx.AsyncClient) -> None:
    response = await register(http, "not-a-token-we-issued", app_metadata())
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_expired_token_is_401(live: LiveIdp, http: httpx.AsyncClient) -> None:
    token, _ = await issue_initial_access_token(live.services.db, ttl=timedelta(hours=1))
    assert (await register(http, token, app_metadata())).status_code == 201
    async with live.services.db() as db, db.begin():
        await db.execute(update(InitialAccessToken)
                         .where(InitialAccessToken.digest == hash_secret(token))
                         .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    response = await register(http, token, app_metadata())
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_a_token_in_another_scheme_is_not_accepted(http: httpx.AsyncClient,
                                                        initial_token: str) -> None:
    response = await http.post("/register", json=app_metadata(),
                               headers={"Authorization": f"Basic {initial_token}"})
    assert response.status_code == 401


@pytest.mark.parametrize("uri", [
    "javascript:alert(document.cookie)",
    "http://rp.example.edu/cb",  # http on a public host
    "https://rp.example.edu/cb#fragment",
    "com.example.app:/callback",
    "/relative/cb",
])
async def test_bad_redirect_uris_are_invalid_redirect_uri(http: httpx.AsyncClient,
                                                          initial_token: str, uri: str) -> None:
    response = await register(http, initial_token, app_metadata(redirect_uris=[uri]))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"
    assert response.json()["error_description"]


@pytest.mark.parametrize("uri", ["http://localhost:3000/cb", "http://127.0.0.1/cb",
                                 "http://[::1]:8080/cb", "https://rp.example.edu/cb?tenant=1"])
async def test_loopback_http_and_https_redirect_uris_are_accepted(
        http: httpx.AsyncClient, initial_token: str, uri: str) -> None:
    info = await registered(http, initial_token, redirect_uris=[uri])
    assert info["redirect_uris"] == [uri]


async def test_missing_redirect_uris_for_the_code_grant(http: httpx.AsyncClient,
                                                        initial_token: str) -> None:
    response = await register(http, initial_token, app_metadata(redirect_uris=None))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize("overrides", [
    {"grant_types": ["password"]},
    {"grant_types": ["implicit"], "response_types": ["token"]},
    {"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]},
    {"response_types": ["id_token"]},
    {"response_types": ["code"], "grant_types": ["client_credentials"]},
    {"token_endpoint_auth_method": "client_secret_jwt"},
    {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"],
     "response_types": []},
    {"id_token_signed_response_alg": "none"},
    {"id_token_signed_response_alg": "HS256"},
    {"token_endpoint_auth_method": "private_key_jwt"},  # without jwks
    {"jwks": {"keys": []}, "jwks_uri": "https://rp.example.edu/jwks"},
    {"post_logout_redirect_uris": ["javascript:alert(1)"]},
    {"backchannel_logout_uri": "http://rp.example.edu/logout"},
    {"logo_uri": "javascript:alert(1)"},
    {"scope": "openid bad\"scope"},
])
async def test_bad_metadata_is_invalid_client_metadata(http: httpx.AsyncClient,
                                                       initial_token: str,
                                                       overrides: dict[str, object]) -> None:
    response = await register(http, initial_token, app_metadata(**overrides))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize("overrides", [
    {"redirect_uris": "https://rp.example.edu/cb"},  # a string, not an array
    {"redirect_uris": [42]},
    {"grant_types": {"authorization_code": True}},
    {"client_name": ["a", "list"]},
    {"scope": 7},
    {"contacts": "dev@example.edu"},
    {"backchannel_logout_session_required": "yes"},
    {"jwks": "not an object"},
    {"jwks": {"keys": [{"kty": "RSA", "n": "garbage", "e": "AQAB"}]},
     "token_endpoint_auth_method": "private_key_jwt"},
])
async def test_wrong_json_types_are_400_not_500(http: httpx.AsyncClient, initial_token: str,
                                                overrides: dict[str, object]) -> None:
    response = await register(http, initial_token, app_metadata(**overrides))
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


@pytest.mark.parametrize("body, content_type", [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b"\"a string\"", "application/json"),
    (b"", "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"[" * 20_000 + b"]" * 20_000, "application/json"),  # too deep to parse
    (b"{\"client_name\": \"" + b"x" * 70_000 + b"\"}", "application/json"),  # too large
    (b"client_name=x&redirect_uris=https://rp.example.edu/cb",
     "application/x-www-form-urlencoded"),
])
async def test_bad_json_is_400_not_500(http: httpx.AsyncClient, initial_token: str,
                                       body: bytes, content_type: str) -> None:
    response = await http.post("/register", content=body, headers={
        "Authorization": f"Bearer {initial_token}", "Content-Type": content_type})
    if len(body) > 65536:  # refused by the request size limit before it is read
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "invalid_request"
        return
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"


async def test_unknown_metadata_is_ignored(http: httpx.AsyncClient, initial_token: str) -> None:
    info = await registered(http, initial_token, software_statement="eyJ.fake.jwt",
                            frobnicate={"x": 1})
    assert "frobnicate" not in info and "software_statement" not in info


async def test_scopes_beyond_the_basic_set_make_the_client_pending(
        live: LiveIdp, http: httpx.AsyncClient, initial_token: str) -> None:
    """A pending client gets invalid_client at /token until an admin approves it."""
    info = await registered(http, initial_token, grant_types=["client_credentials"],
                            response_types=[], redirect_uris=None, scope="library.read")
    assert info["status"] == "pending"
    credentials = (info["client_id"], info["client_secret"])

    pending = await http.post("/token", data={"grant_type": "client_credentials"},
                              auth=credentials)
    assert pending.status_code == 401, pending.text
    assert pending.json()["error"] == "invalid_client"

    await set_status(live, info["client_id"], "active")  # the admin approves
    approved = await http.post("/token", data={"grant_type": "client_credentials"},
                               auth=credentials)
    assert approved.status_code == 200, approved.text
    assert approved.json()["scope"] == "library.read"


async def test_a_pending_client_cannot_start_a_login(live: LiveIdp, http: httpx.AsyncClient,
                                                     initial_token: str) -> None:
    info = await registered(http, initial_token, scope="openid profile campus")
    assert info["status"] == "pending"
    response = await http.get("/authorize", params={
        "response_type": "code", "client_id": info["client_id"], "redirect_uri": REDIRECT,
        "scope": "openid", "state": "s"})
    assert response.status_code == 400  # an error page at the OP, never a redirect
    assert "location" not in response.headers


async def test_registration_is_audited(live: LiveIdp, http: httpx.AsyncClient,
                                       initial_token: str) -> None:
    from sqlalchemy import select

    from idp.db.models import AuditEvent

    info = await registered(http, initial_token)
    async with live.services.db() as db:
        events = (await db.execute(select(AuditEvent).where(
            AuditEvent.client_id == info["client_id"]))).scalars().all()
    assert [(e.kind, e.outcome, e.detail["action"]) for e in events] == [
        ("developer", "success", "register")]
    assert events[0].actor == "tests"  # who issued the initial access token


async def test_private_key_jwt_client_registers_its_public_keys(http: httpx.AsyncClient,
                                                               initial_token: str) -> None:
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    public = {"keys": [key.as_dict(private=False)]}
    info = await registered(http, initial_token, token_endpoint_auth_method="private_key_jwt",
                            jwks=public)
    assert "client_secret" not in info
    assert info["jwks"] == public

    private = {"keys": [key.as_dict(private=True)]}
    leaked = await register(http, initial_token, app_metadata(
        token_endpoint_auth_method="private_key_jwt", jwks=private))
    assert leaked.status_code == 400
    assert "public keys only" in leaked.json()["error_description"]
