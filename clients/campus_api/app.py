"""校园数据 API — a campus API (an OAuth resource server) that checks RFC 9068 JWT access tokens
offline, against the IdP's published keys: no call to the IdP per request.

A client gets a token for this API by naming it as the resource (RFC 8707) in its authorization
request: `resource=<API_AUDIENCE>`; the token's `aud` then carries it.

Run:  API_AUDIENCE=http://localhost:9004 uvicorn clients.campus_api.app:app --port 9004
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware

from clients.jwks import JwksCache, TokenRejected, audiences, check_times

# --- settings --------------------------------------------------------------------------------
ISSUER = os.environ.get("API_ISSUER", "http://localhost:8000").rstrip("/")
# this API's resource identifier: what access tokens for it carry in `aud`
AUDIENCE = os.environ.get("API_AUDIENCE", "http://localhost:9004").rstrip("/")
# browser apps (single-page apps) allowed to call it, comma separated
CORS_ORIGINS = [o.strip() for o in os.environ.get(
    "API_CORS_ORIGINS", "http://localhost:9003").split(",") if o.strip()]
CA_FILE = os.environ.get("API_CA_FILE")
# -----------------------------------------------------------------------------------------------

keys = JwksCache(ISSUER, verify=CA_FILE or True)

app = FastAPI(title="Campus data API", docs_url=None, redoc_url=None)
app.add_middleware(CORSMiddleware, allow_origins=CORS_ORIGINS, allow_methods=["GET"],
                   allow_headers=["Authorization"], max_age=600)


class Unauthorized(Exception):
    def __init__(self, status: int, error: str, description: str, scope: str | None = None):
        self.status, self.error, self.description, self.scope = status, error, description, scope


@app.exception_handler(Unauthorized)
async def unauthorized(_request: Request, exc: Unauthorized) -> JSONResponse:
    """RFC 6750 §3: the reason goes in WWW-Authenticate, and the body says the same."""
    challenge = f'Bearer error="{exc.error}", error_description="{exc.description}"'
    if exc.scope:
        challenge += f', scope="{exc.scope}"'
    return JSONResponse({"error": exc.error, "error_description": exc.description},
                        status_code=exc.status, headers={"WWW-Authenticate": challenge})


async def verify_access_token(token: str) -> dict[str, Any]:
    """RFC 9068 §4: typ at+jwt, signature with an allowed asymmetric alg, iss, aud, exp."""
    try:
        header, claims = await keys.decode(token)
        # §4: "application/at+jwt" or "at+jwt"; an ID token (no typ) must not pass as access
        if str(header.get("typ", "")).lower().removeprefix("application/") != "at+jwt":
            raise TokenRejected("typ must be at+jwt")
        if claims.get("iss") != ISSUER:
            raise TokenRejected("wrong issuer")
        if AUDIENCE not in audiences(claims):
            raise TokenRejected("token is not for this API")
        check_times(claims)
    except TokenRejected as exc:
        raise Unauthorized(401, "invalid_token", str(exc)) from None
    return claims


def requires(scope: str | None = None) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """A dependency: a valid access token for this API, holding `scope` when one is named."""

    async def dependency(request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(401, "invalid_request", "a Bearer access token is required")
        claims = await verify_access_token(token.strip())
        if scope and scope not in str(claims.get("scope", "")).split():
            raise Unauthorized(403, "insufficient_scope", f"this needs the {scope} scope", scope)
        return claims

    return dependency


@app.get("/api/me")
async def me(claims: dict[str, Any] = Depends(requires())) -> dict[str, Any]:
    """Who the token speaks for; any valid token for this API."""
    return {"sub": claims["sub"], "client_id": claims.get("client_id"),
            "scope": claims.get("scope", ""), "expires_at": claims["exp"]}


@app.get("/api/timetable")
async def timetable(claims: dict[str, Any] = Depends(requires("campus"))) -> dict[str, Any]:
    """Campus data: needs the `campus` scope. (Made-up rows; a real API would look the subject
    up in its own systems.)"""
    return {
        "sub": claims["sub"],
        "courses": [
            {"code": "CS101", "name": "程序设计基础 Programming", "room": "教三-201", "day": "Mon"},
            {"code": "MA201", "name": "线性代数 Linear algebra", "room": "理科楼-105", "day": "Wed"},
        ],
    }


def _metadata() -> dict[str, Any]:
    """RFC 9728 protected resource metadata: which IdP issues tokens for this API, and how."""
    return {"resource": AUDIENCE, "authorization_servers": [ISSUER],
            "scopes_supported": ["openid", "campus"], "bearer_methods_supported": ["header"],
            "resource_name": "校园数据 API · Campus data API"}


@app.get("/")
async def root() -> dict[str, Any]:
    """What a developer who opens the API's address wants to know: what is here and how to get
    a token for it."""
    return {**_metadata(), "endpoints": {
        "/api/me": "who the access token speaks for (any valid token for this API)",
        "/api/timetable": "the person's timetable (needs the campus scope)",
        "/.well-known/oauth-protected-resource": "this API's metadata (RFC 9728)"},
        "how_to_call": f"get an access token from {ISSUER} with resource={AUDIENCE} (RFC 8707), "
                       "then send it as Authorization: Bearer <token>"}


@app.get("/.well-known/oauth-protected-resource")
async def protected_resource_metadata() -> dict[str, Any]:
    return _metadata()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
