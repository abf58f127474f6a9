"""Security headers on every response, and a limit on request bodies: applied to every request
by idp/server/edge.py, the one ASGI layer around the app."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope

from idp.settings import Settings

# FastAPI's own docs pages load Swagger UI from a CDN with inline script; they keep the
# anti-framing rules but not the strict page policy.
RELAXED_PATHS = ("/docs", "/redoc")


def page_policy(settings: Settings) -> str:
    """CSP for our HTML pages: nothing but our own origin, no framing (clickjacking on the
    login form), no plugins, no <base> tricks. form-action is left out on purpose: browsers apply
    it to the redirect chain after a POST, which ends at the client's redirect_uri."""
    img = "'self' data:"
    if settings.site.logo_url:
        parts = urlsplit(settings.site.logo_url)
        if parts.scheme in ("http", "https") and parts.netloc:
            img += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'self'; img-src {img}; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


class ResponseHeaders:
    """The security headers every answer carries (the 413s, 429s and 500s included): added to
    the raw header list of `http.response.start` where the endpoint did not set its own."""

    def __init__(self, settings: Settings) -> None:
        fixed = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"no-referrer")]
        if settings.https:
            fixed.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self.fixed = fixed
        self.page_csp = page_policy(settings).encode()

    def complete(self, raw: Any, path: str, *, drop: frozenset[bytes],
                 extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The response's headers in one pass: the endpoint's own, less those named in `drop`
        (lower case), then the security headers it did not set, then `extra`."""
        out: list[tuple[bytes, bytes]] = []
        present: set[bytes] = set()
        html = False
        for header in raw or ():
            name = header[0].lower()
            if name in drop:
                continue
            present.add(name)
            if name == b"content-type" and header[1].startswith(b"text/html"):
                html = True
            out.append(header)
        out.extend(header for header in self.fixed if header[0] not in present)
        if b"content-security-policy" not in present:
            strict = html and not path.startswith(RELAXED_PATHS)
            out.append((b"content-security-policy",
                        self.page_csp if strict else b"frame-ancestors 'none'"))
        out.extend(extra)
        return out


# --- request size -----------------------------------------------------------------------------

# paths that take more than max_body: the admin bulk intake uploads a whole year's CSV
# (and the bulk binding of upstream accounts: a whole staff list of number -> WeCom userid)
LARGER_BODIES: dict[str, int] = {"/admin/api/imports": 16 * 1024 * 1024,
                                 "/admin/api/upstream-bindings": 5 * 1024 * 1024}


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without Content-Length grows past the limit; FastAPI
    and Starlette pass HTTPExceptions through their body parsing and answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodyLimit:
    """Request bodies over [throttle] max_body bytes are refused with 413 and a readable body (an
    HTML page for browsers, OAuth error JSON for the rest), before anything parses them.

    A Content-Length over the limit is refused at once (the HTTP server holds a body to its
    Content-Length); a chunked body is counted as it is read and cut off with BodyTooLarge.
    """

    def __init__(self, settings: Settings, larger: dict[str, int] | None = None) -> None:
        from idp.sso.throttle import throttle_settings

        self.limit = throttle_settings(settings).max_body
        self.larger = LARGER_BODIES if larger is None else larger

    def limit_of(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path == prefix or path.startswith(prefix + "/"):
                return max(limit, self.limit)
        return self.limit

    @staticmethod
    def declared(scope: Scope) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return value
        return None

    @staticmethod
    def counted(receive: Receive, limit: int) -> Receive:
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
            return message

        return counting

    @staticmethod
    def refuse(scope: Scope, limit: int) -> Response:
        request = Request(scope)
        headers = {"Connection": "close", "Cache-Control": "no-store"}
        if "text/html" in request.headers.get("accept", ""):
            from idp.web.i18n import choose_locale, text
            from idp.web.pages import error_page

            settings: Settings = scope["app"].state.settings
            locale = choose_locale(request, settings.site.default_locale)
            page = error_page(request, status=413, title="err_too_large_title",
                              detail=text("err_too_large", locale, limit=limit), locale=locale)
            page.headers.update(headers)
            return page
        return JSONResponse({"error": "invalid_request",
                             "error_description": f"The request body is larger than {limit} bytes."},
                            status_code=413, headers=headers)
