"""OpenID Connect Discovery 1.0 §3/§4 and RFC 8414: the metadata is present, valid and truthful."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from tests.support.server import LiveIdp


async def _metadata(live: LiveIdp, path: str) -> dict:
    async with live.client() as http:
        response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def test_openid_configuration_is_valid_and_truthful(live: LiveIdp) -> None:
    doc = await _metadata(live, "/.well-known/openid-configuration")
    issuer = live.settings.issuer
    assert doc["issuer"] == issuer  # exactly, OIDC Discovery §4.3
    assert doc["authorization_endpoint"] == f"{issuer}/authorize"
    assert doc["token_endpoint"] == f"{issuer}/token"
    assert doc["userinfo_endpoint"] == f"{issuer}/userinfo"
    assert doc["jwks_uri"] == f"{issuer}/jwks"
    assert doc["end_session_endpoint"] == f"{issuer}/logout"
    assert "openid" in doc["scopes_supported"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"sub", "email", "groups", "eduperson_affiliation"} <= set(doc["claims_supported"])
    assert doc["claims_parameter_supported"] is True
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token",
                                             "client_credentials",
                                             "urn:ietf:params:oauth:grant-type:device_code"]
    assert doc["device_authorization_endpoint"] == f"{issuer}/device_authorization"


async def test_metadata_passes_authlib_validation_with_https_issuer(live_idp_https: LiveIdp) -> None:
    doc = await _metadata(live_idp_https, "/.well-known/openid-configuration")
    OpenIDProviderMetadata(doc).validate()  # raises on any invalid member
    oauth = await _metadata(live_idp_https, "/.well-known/oauth-authorization-server")
    AuthorizationServerMetadata(oauth).validate()
    assert oauth == doc


async def test_every_listed_endpoint_answers(live: LiveIdp) -> None:
    doc = await _metadata(live, "/.well-known/openid-configuration")
    async with live.client() as http:
        for name in ("authorization_endpoint", "jwks_uri", "userinfo_endpoint"):
            response = await http.get(doc[name].removeprefix(live.settings.issuer))
            assert response.status_code != 404, name
        for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint",
                     "device_authorization_endpoint"):
            response = await http.post(doc[name].removeprefix(live.settings.issuer), data={})
            assert response.status_code in (400, 401), (name, response.text)


async def test_jwks_publishes_public_keys_for_both_algorithms(live: LiveIdp) -> None:
    async with live.client() as http:
        response = await http.get("/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert {key["alg"] for key in keys} >= {"RS256", "ES256"}
    for key in keys:
        assert key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private material published"
