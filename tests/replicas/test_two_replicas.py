"""Replicas are stateless: sessions, login signins, codes and keys are shared, so any
replica finishes what another started (DESIGN "Where state lives")."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.app import KEY_RELOAD_SECONDS
from tests.replicas.conftest import REDIRECT_URI, Cluster


def authorize_params() -> tuple[dict[str, str], str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return {"response_type": "code", "client_id": "", "redirect_uri": REDIRECT_URI,
            "scope": "openid profile campus", "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), "code_challenge": challenge.decode(),
            "code_challenge_method": "S256"}, verifier


def code_from(location: str) -> str:
    assert location.startswith(REDIRECT_URI), location
    return parse_qs(urlsplit(location).query)["code"][0]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def redeem(cluster: Cluster, replica_url: str, code: str, verifier: str) -> dict[str, Any]:
    response = httpx.post(f"{replica_url}/token", auth=(cluster.client_id, cluster.client_secret),
                          data={"grant_type": "authorization_code", "code": code,
                                "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert response.status_code == 200, response.text
    return response.json()


def id_token_claims(replica_url: str, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(f"{replica_url}/jwks").json())
    return dict(jwt.decode(token, keys, algorithms=["RS256", "ES256"]).claims)


def log_in(browser: httpx.Client, replica_url: str, cluster: Cluster) -> tuple[str, str]:
    """A full login on one replica; returns (code, PKCE verifier)."""
    params, verifier = authorize_params()
    params["client_id"] = cluster.client_id
    login = browser.get(f"{replica_url}/authorize", params=params).headers["location"]
    page = browser.get(f"{replica_url}{login}")
    done = browser.post(f"{replica_url}{login}", data={
        "csrf": csrf_of(page.text), "username": "student", "password": "student123"})
    assert done.status_code == 303, done.text
    resumed = browser.get(f"{replica_url}{done.headers['location']}")
    return code_from(resumed.headers["location"]), verifier


def test_a_session_made_on_a_is_honoured_by_b(cluster: Cluster) -> None:
    a, b = cluster.replicas[0], cluster.replicas[1]
    with httpx.Client(timeout=15) as browser:
        code, verifier = log_in(browser, a.url, cluster)
        first = id_token_claims(b.url, redeem(cluster, b.url, code, verifier)["id_token"])  # code made on A

        params, verifier = authorize_params()
        params["client_id"] = cluster.client_id
        answer = browser.get(f"{b.url}/authorize", params=params)
        # no login page: B knows the SSO session A created, and redirects straight back
        assert answer.status_code == 302, answer.text
        second = id_token_claims(a.url, redeem(cluster, a.url, code_from(answer.headers["location"]),
                                               verifier)["id_token"])
    assert first["iss"] == second["iss"] == cluster.issuer
    assert first["sid"] == second["sid"] and first["sub"] == second["sub"]
    assert first["preferred_username"] == "student"


def test_a_key_rotated_on_a_reaches_b_within_the_reload_interval(cluster: Cluster) -> None:
    a, b = cluster.replicas[0], cluster.replicas[1]
    before = {key["kid"] for key in httpx.get(f"{b.url}/jwks").json()["keys"]}
    cluster.idp("keys", "rotate")  # on "node A", against the shared keys directory
    rotated_at = time.monotonic()
    ring = json.loads(cluster.idp("keys", "list", "--json"))
    current = {key["kid"] for key in ring if key["state"] == "current"}
    upcoming = {key["kid"] for key in ring if key["state"] == "next"}
    assert current <= before and not upcoming & before  # the old next signs, a new next appears

    # each replica adopts the rotation on its own timer: wait for both (A must sign with the new
    # current key below, B must publish it), each within the documented bound
    deadline = rotated_at + KEY_RELOAD_SECONDS + 3  # documented bound, plus a poll's slack
    for replica in (b, a):
        while True:
            published = {key["kid"] for key in httpx.get(f"{replica.url}/jwks").json()["keys"]}
            if upcoming <= published:
                break
            assert time.monotonic() < deadline, f"{replica.url} never published the rotated keys"
            time.sleep(0.25)
    # and A, which signs with the new current key, issues tokens that B's JWKS verifies
    with httpx.Client(timeout=15) as browser:
        code, verifier = log_in(browser, a.url, cluster)
        token = redeem(cluster, a.url, code, verifier)["id_token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] in current
    assert id_token_claims(b.url, token)["iss"] == cluster.issuer


def test_a_replica_stopping_mid_login_loses_nothing(cluster: Cluster) -> None:
    doomed = cluster.start_replica("c")
    b = cluster.replicas[1]
    params, verifier = authorize_params()
    params["client_id"] = cluster.client_id
    with httpx.Client(timeout=15) as browser:
        login = browser.get(f"{doomed.url}/authorize", params=params).headers["location"]
        page = browser.get(f"{doomed.url}{login}")  # the login page comes from the doomed one
        assert page.status_code == 200
        doomed.stop()
        assert doomed.process.returncode is not None
        done = browser.post(f"{b.url}{login}", data={  # the person submits: B answers
            "csrf": csrf_of(page.text), "username": "student", "password": "student123"})
        assert done.status_code == 303, done.text
        resumed = browser.get(f"{b.url}{done.headers['location']}")
        code = code_from(resumed.headers["location"])
        assert parse_qs(urlsplit(resumed.headers["location"]).query)["state"] == [params["state"]]
    claims = id_token_claims(b.url, redeem(cluster, b.url, code, verifier)["id_token"])
    assert claims["nonce"] == params["nonce"] and claims["preferred_username"] == "student"


def test_every_replica_is_ready_and_measured(cluster: Cluster) -> None:
    for replica in cluster.replicas[:2]:
        ready = httpx.get(f"{replica.url}/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"store": "ok", "database": "ok", "directory": "ok"}
        answer = httpx.get(f"{replica.url}/healthz", headers={"X-Request-ID": "trace-42"})
        assert answer.headers["x-request-id"] == "trace-42"
        assert len(httpx.get(f"{replica.url}/healthz").headers["x-request-id"]) == 32
    with httpx.Client(timeout=15) as browser:
        code, verifier = log_in(browser, cluster.replicas[0].url, cluster)
    redeem(cluster, cluster.replicas[0].url, code, verifier)
    metrics = httpx.get(f"{cluster.replicas[0].url}/metrics").text
    assert re.search(r'^idp_logins_total\{outcome="success"\} [1-9]', metrics, re.M), metrics
    issued = (r'^idp_tokens_issued_total\{client_id="' + re.escape(cluster.client_id)
              + r'",grant_type="authorization_code"\} [1-9]')
    assert re.search(issued, metrics, re.M)
    assert re.search(r'^idp_store_operation_seconds_count\{operation="get"\} [1-9]', metrics, re.M)
    assert 'idp_http_request_duration_seconds_count{method="POST",route="/login/{signin_id}"' \
        in metrics
