"""The SSO session cookie (an opaque id only: the session itself lives in the Store), shared by
every protocol and page that reads or ends the session; and the client address of a request."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.settings import Settings


def session_id(request: Request, settings: Settings) -> str | None:
    value = request.cookies.get(settings.session.cookie_name)
    return value if value and len(value) <= 128 else None


def set_session_cookie(response: Response, sid: str, settings: Settings) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (sent on the top-level redirects of the
    authorization flow, not on cross-site POSTs), Secure when the issuer is https. No Max-Age:
    the browser drops it on exit, and the Store's TTL ends the session on the server."""
    response.set_cookie(
        settings.session.cookie_name, sid, httponly=True, samesite="lax",
        secure=settings.https, path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session.cookie_name, path="/", httponly=True, samesite="lax",
        secure=settings.https,
    )


def client_ip(request: Request) -> str:
    # behind a trusted proxy (trusted_proxies) the app itself puts X-Forwarded-For here (app.py)
    return request.client.host if request.client else "unknown"
