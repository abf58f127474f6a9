"""The one ASGI layer around the application: what every HTTP request gets, in one place.

In order: a request id (idp/monitoring/logs.py), the CORS preflight answer on the public client
endpoints (idp/server/cors.py), the body limit (idp/server/security.py), the per-client rate limit on the
token endpoints (idp/server/ratelimit.py), then the endpoint; on the way out the security headers, the
CORS headers and the request id are added to the response, and the request is timed for
/metrics and written to the access log.

These were six stacked middlewares; one layer costs one closure and one pass over the response
headers (ResponseHeaders.complete) instead of six. The routes declared fast (the route table,
idp/server/routes.py) are dispatched here directly by method and path; everything else goes
through FastAPI's routing as usual. Errors on both paths are answered by the same handlers
(idp/server/errors.py), and anything unexpected is logged here, once, for both.

Documents (the provider metadata, the JWKS: idp/http/documents.py) have a third way in, under
`idp serve`: `document_answer` builds the whole answer to a plain GET as bytes, which the HTTP
protocol writes at once (idp/server/transport.py), with the same head this layer would give the
endpoint's response and the same metrics and access line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from idp.http.documents import Document
from idp.monitoring.logs import log_access, request_id, request_id_for
from idp.monitoring.metrics import observe_http
from idp.server.cors import PREFLIGHT_HEADERS, RESPONSE_HEADERS, is_preflight
from idp.server.errors import handler_for, unexpected
from idp.server.ratelimit import ClientRateLimit
from idp.server.routes import RouteTable
from idp.server.security import BodyLimit, BodyTooLarge, ResponseHeaders
from idp.server.transport import head_line
from idp.settings import Settings

log = logging.getLogger("idp")

# what the edge sets itself, replacing any the endpoint set
_DROP = frozenset({b"x-request-id"})
_DROP_CORS = _DROP | frozenset(name for name, _ in RESPONSE_HEADERS)
# a request carrying any of these has (or announces) a body: the endpoint answers it
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"expect"})


async def _as_is(scope: Scope, receive: Receive, send: Send) -> None:
    return None


class Edge:
    def __init__(self, app: Any, inner: ASGIApp, settings: Settings, routes: RouteTable) -> None:
        self.app = app  # the FastAPI application: scope["app"], its state.services
        self.inner = inner  # FastAPI's own ASGI entry (routing, exception handlers)
        self.routes = routes
        self.headers = ResponseHeaders(settings)
        self.body = BodyLimit(settings)
        self.rate_limit = ClientRateLimit(settings)
        # the client address and scheme as the app sees them (app.py applies the same rule)
        self.forwarded = ProxyHeadersMiddleware(_as_is, trusted_hosts=settings.trusted_proxies)
        # path -> (the body, its head lines after the server's and before the request id)
        self._document_heads: dict[str, tuple[bytes, bytes]] = {}
        self._server_lines: tuple[object, bytes] = (None, b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        rid = request_id_for(_header(scope, b"x-request-id"))
        context = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        cors = path in self.routes.cors_paths
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                rid_header = (b"x-request-id", rid.encode("latin-1"))
                message["headers"] = self.headers.complete(
                    message.get("headers"), path, drop=_DROP_CORS if cors else _DROP,
                    extra=[*RESPONSE_HEADERS, rid_header] if cors else [rid_header])
            await send(message)

        method = scope["method"]
        fast = self.routes.match(method, path)
        try:
            if cors and is_preflight(scope):
                await send_with_headers({"type": "http.response.start", "status": 204,
                                         "headers": list(PREFLIGHT_HEADERS)})
                await send_with_headers({"type": "http.response.body", "body": b""})
                return
            limit = self.body.limit_of(path)
            declared = BodyLimit.declared(scope)
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                await self.body.refuse(scope, limit)(scope, receive, send_with_headers)
                return
            if declared is None:  # chunked (or no body): count what arrives
                receive = BodyLimit.counted(receive, limit)
            services = getattr(self.app.state, "services", None)
            refused, receive = await self.rate_limit.check(scope, receive, services)
            if refused is not None:
                await refused(scope, receive, send_with_headers)
                return
            if fast is not None:
                await self._direct(fast[0], fast[1], scope, receive, send_with_headers)
            else:
                await self.inner(scope, receive, send_with_headers)
        except BodyTooLarge:
            # raised while something outside FastAPI's exception handlers read the body
            if response_started:
                raise
            await self.body.refuse(scope, self.body.limit_of(path))(scope, receive,
                                                                     send_with_headers)
        except Exception:
            # FastAPI's last handler (errors.unexpected) answered already, then raised it again
            log.exception("unhandled error in %s %s", method, path)
            if not response_started:
                raise
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            observe_http(method, template, status, seconds)
            log_access(scope, status, rid, seconds)
            request_id.reset(context)

    async def _direct(self, route: Any, params: dict[str, str], scope: Scope, receive: Receive,
                      send: Send) -> None:
        """Call a fast route's endpoint (it takes the request alone, idp/server/routes.py); an
        exception gets the handler FastAPI would have chosen (idp/server/errors.py)."""
        scope["app"] = self.app
        scope["route"] = route
        scope["path_params"] = params
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except BodyTooLarge:
            raise
        except ClientDisconnect:
            return
        except Exception as exc:
            handler = handler_for(self.app, exc)
            if handler is unexpected:
                log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = await handler(request, exc)
        await response(scope, receive, send)


    def document_answer(self, scope: Scope, server_headers: list[tuple[bytes, bytes]],
                        keep_alive: bool) -> bytes | None:
        """The whole HTTP/1.1 answer to a plain GET of a document, status line to body, or None:
        not a document, a request with a body, or a document its app cannot read now (the
        endpoint then answers, and its error handling with it). `server_headers` are the
        server's own (date, server) that lead every head."""
        path: str = scope["path"]
        document = self.routes.documents.get(path)
        if document is None or scope["method"] != "GET":
            return None
        offered = None
        for name, value in scope["headers"]:
            if name in _BODY_HEADERS:
                return None
            if name == b"x-request-id" and offered is None:
                offered = value
        started = time.perf_counter()
        try:
            body = document.body(self.app)
            kept = self._document_heads.get(path)
            if kept is None or kept[0] is not body:
                kept = self._document_heads[path] = (body,
                                                     self._document_head(document, body, path))
        except Exception:  # noqa: BLE001 - the endpoint's way in answers it, and logs it
            return None
        # the server's date and name: uvicorn makes a new list when the second changes
        server = self._server_lines
        if server[0] is not server_headers:
            server = self._server_lines = (server_headers, b"".join(
                b"%s: %s\r\n" % pair for pair in server_headers))
        rid = request_id_for(offered)
        answer = b"".join((STATUS_LINE[200], server[1], kept[1], b"x-request-id: ",
                           rid.encode("latin-1"), b"\r\n",
                           b"" if keep_alive else b"connection: close\r\n", b"\r\n", body))
        _apply(self.forwarded, scope)
        seconds = time.perf_counter() - started
        observe_http("GET", path, 200, seconds)
        log_access(scope, 200, rid, seconds)
        return answer

    def _document_head(self, document: Document, body: bytes, path: str) -> bytes:
        """The head lines the endpoint's response would get here, between the server's own and
        the request id, checked and written as uvicorn writes them."""
        raw = Response(body, media_type=document.media_type, headers=dict(document.headers))
        cors = path in self.routes.cors_paths
        lines = []
        for name, value in self.headers.complete(raw.raw_headers, path,
                                                 drop=_DROP_CORS if cors else _DROP,
                                                 extra=list(RESPONSE_HEADERS) if cors else []):
            lines.append(head_line(name, value))
        return b"".join(lines)


def _apply(middleware: ProxyHeadersMiddleware, scope: Scope) -> None:
    """Run uvicorn's proxy-headers rule on `scope` (its app, `_as_is`, awaits nothing, so the
    call completes in one step)."""
    step = middleware(scope, None, None)  # type: ignore[arg-type]
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise RuntimeError("the proxy-headers rule awaited")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None
