"""The real authorization code flow over HTTP, through the login and consent pages, for tests
that need a genuine ID token (logout)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.web.conftest import form_field

REDIRECT_URI = "https://rp.example.edu/cb"


async def sign_in_to_client(
    web: httpx.AsyncClient, client_id: str, secret: str, *, username: str = "student",
    password: str = "student123", scope: str = "openid profile",
) -> dict[str, Any]:
    """/authorize -> login page -> (consent page) -> code -> /token; returns the token JSON."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    response = await web.get("/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": scope, "state": state, "nonce": nonce, "code_challenge": challenge,
        "code_challenge_method": "S256"})
    for _ in range(6):
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
        if location.startswith(REDIRECT_URI):
            break
        if location.startswith("/login/"):
            page = await web.get(location)
            response = await web.post(location, data={
                "csrf": form_field(page.text, "csrf"), "username": username,
                "password": password})
        elif location.startswith("/consent/"):
            page = await web.get(location)
            response = await web.post(location, data={
                "csrf": form_field(page.text, "csrf"), "decision": "allow"})
        else:
            response = await web.get(location)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query.get("state") == [state], query
    tokens = await web.post("/token", data={
        "grant_type": "authorization_code", "code": query["code"][0],
        "redirect_uri": REDIRECT_URI, "code_verifier": verifier}, auth=(client_id, secret))
    assert tokens.status_code == 200, tokens.text
    return tokens.json()
