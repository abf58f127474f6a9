"""CORS for the endpoints a browser app (a public client, e.g. a single-page app with
oidc-client-ts) calls from its own origin: discovery, JWKS, token, userinfo, revocation.

Any origin may call them, without credentials (`Access-Control-Allow-Origin: *`, never
`Allow-Credentials`): the browser then sends no cookie, so these requests carry only what the
app itself holds (a code + PKCE verifier, a bearer token), exactly as a server-side client's would.
The interaction pages (/authorize, /login, /logout) stay same-origin: they are navigated to,
never fetched. Pure ASGI, like SecurityHeaders.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORS_PATHS = frozenset({
    "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks",
    "/token", "/userinfo", "/revoke",
})
PREFLIGHT_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, DPoP"),
    (b"access-control-max-age", b"600"),
    (b"content-length", b"0"),
]


class PublicClientCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in CORS_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await send({"type": "http.response.start", "status": 204, "headers": PREFLIGHT_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = "*"
                response_headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
            await send(message)

        await self.app(scope, receive, send_with_cors)
