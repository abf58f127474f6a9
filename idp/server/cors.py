"""CORS for the endpoints a browser app (a public client, e.g. a single-page app with
oidc-client-ts) calls from its own origin: discovery, JWKS, token, userinfo, revocation.

Any origin may call them, without credentials (`Access-Control-Allow-Origin: *`, never
`Allow-Credentials`): the browser then sends no cookie, so these requests carry only what the
app itself holds (a code + PKCE verifier, a bearer token), exactly as a server-side client's would.
The interaction pages (/authorize, /login, /logout) stay same-origin: they are navigated to,
never fetched. Routes declare it (cors=True, idp/http/routing.py); the edge
(idp/server/edge.py) answers the preflights and adds the headers.
"""

from __future__ import annotations

from starlette.types import Scope

PREFLIGHT_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, DPoP"),
    (b"access-control-max-age", b"600"),
    (b"content-length", b"0"),
]


# added to every answer on a route declared cors=True (replacing any the endpoint set)
RESPONSE_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"WWW-Authenticate"),
]


def is_preflight(scope: Scope) -> bool:
    """An OPTIONS request a browser sends before a cross-origin call (Fetch standard §4.8)."""
    return scope["method"] == "OPTIONS" and any(
        name.lower() == b"access-control-request-method" for name, _ in scope["headers"])
