"""The example apps' security checks over plain HTTP, against the running demo: the campus API's
RFC 9068 checks, OA's back-channel logout token checks, and Ctrl-C stopping the whole demo."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from idp.keys.ring import KeyRing
from tests.e2e.stack import DemoStack, listening, start_demo

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def sign_in(demo: DemoStack, *, scope: str, resource: str | None) -> dict[str, Any]:
    """The data platform's flow done by hand: authorize (PKCE) -> login form -> code -> token."""
    client_id = demo.clients["data"]["client_id"]
    redirect_uri = f"{demo.data}/callback"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": "st", "code_challenge": challenge.decode(),
              "code_challenge_method": "S256"}
    if resource:
        params["resource"] = resource
    with httpx.Client(base_url=demo.issuer, timeout=10) as http:
        login = http.get("/authorize", params=params).headers["location"]
        page = http.get(login).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf, page
        done = http.post(login, data={"csrf": csrf.group(1), "username": "student",
                                      "password": "student123"})
        location = http.get(done.headers["location"]).headers["location"]
        assert location.startswith(redirect_uri), location
        code = parse_qs(urlsplit(location).query)["code"][0]
        tokens = http.post("/token", data={"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": redirect_uri, "client_id": client_id,
                                           "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def call_api(demo: DemoStack, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{demo.api}{path}", headers=headers, timeout=10)


def test_campus_api_says_what_it_is_at_its_root(demo: DemoStack) -> None:
    root = httpx.get(demo.api + "/", timeout=10)
    assert root.status_code == 200
    body = root.json()
    assert body["resource"] == demo.api and body["authorization_servers"] == [demo.issuer]
    assert "/api/timetable" in body["endpoints"] and demo.api in body["how_to_call"]
    metadata = httpx.get(demo.api + "/.well-known/oauth-protected-resource", timeout=10).json()
    assert metadata["resource"] == demo.api and "campus" in metadata["scopes_supported"]


def test_campus_api_checks_typ_audience_signature_and_scope(demo: DemoStack) -> None:
    full = sign_in(demo, scope="openid profile campus", resource=demo.api)
    answer = call_api(demo, "/api/timetable", full["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["courses"][0]["code"] == "CS101"

    narrow = sign_in(demo, scope="openid profile", resource=demo.api)
    assert call_api(demo, "/api/me", narrow["access_token"]).status_code == 200
    refused = call_api(demo, "/api/timetable", narrow["access_token"])
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="campus"' in refused.headers["www-authenticate"]

    other_audience = sign_in(demo, scope="openid profile campus", resource=None)
    wrong = call_api(demo, "/api/timetable", other_audience["access_token"])
    assert wrong.status_code == 401 and "not for this API" in wrong.json()["error_description"]

    id_token = call_api(demo, "/api/me", full["id_token"])  # signed by the IdP, but no at+jwt
    assert id_token.status_code == 401 and "typ" in id_token.json()["error_description"]

    head, payload, signature = full["access_token"].split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert call_api(demo, "/api/me", forged).status_code == 401
    missing = call_api(demo, "/api/me", None)
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_request"


def test_cors_lets_only_the_data_platform_call_the_api(demo: DemoStack) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(f"{demo.api}/api/timetable", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})

    assert preflight(demo.data).headers.get("access-control-allow-origin") == demo.data
    assert "access-control-allow-origin" not in preflight("https://evil.example.com").headers
    # and the IdP's token endpoint answers the browser app's cross-origin POST
    idp = httpx.post(f"{demo.issuer}/token", headers={"Origin": demo.data},
                     data={"grant_type": "authorization_code", "code": "x"})
    assert idp.headers.get("access-control-allow-origin") == "*"
    assert "access-control-allow-credentials" not in idp.headers


def logout_token(demo: DemoStack, ring: KeyRing, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": demo.issuer, "aud": demo.clients["oa"]["client_id"], "iat": now, "exp": now + 120,
        "jti": secrets.token_urlsafe(12), "sub": "someone", "sid": secrets.token_urlsafe(8),
        "events": {EVENT: {}},
    }
    typ = changes.pop("typ", "logout+jwt")
    claims.update(changes)
    return ring.sign({k: v for k, v in claims.items() if v is not None}, typ=typ)


def post_logout(demo: DemoStack, token: str) -> httpx.Response:
    return httpx.post(f"{demo.oa}/backchannel-logout", data={"logout_token": token}, timeout=10)


def test_oa_backchannel_logout_validates_the_token(demo: DemoStack) -> None:
    ring = KeyRing.open(demo.root / "keys")  # the IdP's own keys: tokens as the IdP signs them
    good = logout_token(demo, ring)
    assert post_logout(demo, good).status_code == 200
    replay = post_logout(demo, good)
    assert replay.status_code == 400 and "replayed" in replay.json()["error_description"]

    refused = {
        "nonce": logout_token(demo, ring, nonce="n"),
        "aud": logout_token(demo, ring, aud="another-client"),
        "iss": logout_token(demo, ring, iss="http://127.0.0.1:1"),
        "events": logout_token(demo, ring, events={"something-else": {}}),
        "typ": logout_token(demo, ring, typ=None),  # an ID token's shape
        "expired": logout_token(demo, ring, iat=int(time.time()) - 900,
                                exp=int(time.time()) - 600),
        "sub and sid": logout_token(demo, ring, sub=None, sid=None),
        "jti": logout_token(demo, ring, jti=None),
    }
    for what, token in refused.items():
        response = post_logout(demo, token)
        assert response.status_code == 400, (what, response.text)
        assert response.json()["error"] == "invalid_request"

    stranger = KeyRing.open(demo.root / "stranger-keys")  # right claims, someone else's key
    assert post_logout(demo, logout_token(demo, stranger)).status_code == 400
    assert post_logout(demo, "not-a-jwt").status_code == 400


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    stack = start_demo(tmp_path)
    assert all(listening(port) for port in stack.ports)
    assert stack.stop() == 0
    deadline = time.monotonic() + 10
    while any(listening(port) for port in stack.ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(listening(port) for port in stack.ports), "a demo process outlived Ctrl-C"
