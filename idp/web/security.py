"""Security headers on every response, as a pure ASGI middleware (BaseHTTPMiddleware costs a
task and a stream copy per request).

Add it in create_app: `app.add_middleware(SecurityHeaders, settings=settings)`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
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
