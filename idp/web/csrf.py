"""CSRF protection for the signin forms: a double-submitted token that the server also
remembers.

The browser gets a random token in an HttpOnly cookie; every form repeats it in a hidden field,
and the server keeps the token it handed out next to the thing the form acts on (the
PendingSignIn, or the pending logout in the Store). A POST is accepted only when all three agree:
a cross-site page can neither read the cookie nor guess the token, and an attacker who starts an
signin of their own (login CSRF) cannot make a victim's browser present the attacker's
token, because the victim's cookie differs.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from idp.settings import Settings

TOKEN_BYTES = 32
_TOKEN_LENGTH = 43  # len(token_urlsafe(32))


def cookie_name(settings: Settings) -> str:
    # __Host- keeps sibling subdomains from planting a cookie of their own (needs Secure, path /)
    return "__Host-idp_csrf" if settings.https else "idp_csrf"


def _well_formed(token: str | None) -> bool:
    return bool(token) and len(token) == _TOKEN_LENGTH and token.replace("-", "").replace(
        "_", "").isalnum()  # type: ignore[union-attr]


def browser_token(request: Request, settings: Settings) -> tuple[str, bool]:
    """This browser's token, and whether it is new (and so must be set as a cookie)."""
    existing = request.cookies.get(cookie_name(settings))
    if existing and _well_formed(existing):
        return existing, False
    return secrets.token_urlsafe(TOKEN_BYTES), True


def set_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        cookie_name(settings), token, httponly=True, samesite="lax", secure=settings.https,
        path="/",
    )


def is_valid(request: Request, settings: Settings, submitted: object, expected: object) -> bool:
    """The form field, the cookie and the server-side copy are one and the same token."""
    cookie = request.cookies.get(cookie_name(settings))
    if not (isinstance(submitted, str) and isinstance(expected, str) and cookie):
        return False
    if not _well_formed(submitted):
        return False
    return hmac.compare_digest(submitted, cookie) and hmac.compare_digest(submitted, expected)
