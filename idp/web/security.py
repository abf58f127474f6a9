"""Security headers on every response, and a limit on request bodies, as pure ASGI middlewares
(BaseHTTPMiddleware costs a task and a stream copy per request).

Add them in create_app, innermost first (each add_middleware wraps the ones before it):
`app.add_middleware(ClientRateLimit, settings=settings)` (idp/ratelimit.py), then
`app.add_middleware(BodySizeLimit, settings=settings)`, then
`app.add_middleware(SecurityHeaders, settings=settings)`, so that every answer, the 413s and 429s
included, carries the headers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class SecurityHeaders:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.page_csp = page_policy(settings)
        self.hsts = "max-age=31536000; includeSubDomains" if settings.https else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        relaxed = scope.get("path", "").startswith(RELAXED_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", self.hsts)
                is_html = headers.get("content-type", "").startswith("text/html")
                if "content-security-policy" not in headers:
                    strict = is_html and not relaxed
                    headers["Content-Security-Policy"] = (
                        self.page_csp if strict else "frame-ancestors 'none'"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- request size -----------------------------------------------------------------------------

# paths that take more than max_body: the admin bulk intake uploads a whole year's CSV
LARGER_BODIES: dict[str, int] = {"/admin/api/imports": 16 * 1024 * 1024}


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without Content-Length grows past the limit; FastAPI
    and Starlette pass HTTPExceptions through their body parsing and answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodySizeLimit:
    """Refuse request bodies over [throttle] max_body bytes with 413 and a readable body (an
    HTML page for browsers, OAuth error JSON for the rest), before anything parses them.

    A Content-Length over the limit is refused at once; a chunked body is counted as it is read
    and cut off with BodyTooLarge. Add it outside ClientRateLimit (which buffers a form):
    `app.add_middleware(BodySizeLimit, settings=settings)`.
    """

    def __init__(self, app: ASGIApp, settings: Settings,
                 larger: dict[str, int] | None = None) -> None:
        from idp.web.throttle import throttle_settings

        self.app = app
        self.limit = throttle_settings(settings).max_body
        self.larger = LARGER_BODIES if larger is None else larger

    def _limit_of(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path == prefix or path.startswith(prefix + "/"):
                return max(limit, self.limit)
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_of(scope.get("path", ""))
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            # raised where no exception handler runs (another middleware reading the body)
            if started:
                raise
            await self._refuse(scope, limit)(scope, receive, send)

    @staticmethod
    def _refuse(scope: Scope, limit: int) -> Response:
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
