"""The one error policy: what every route answers when something fails, on the FastAPI path and
on the edge's fast path alike (both look the handler up in `app.exception_handlers`).

- A backend is down (the directory, the Store, the database: every driver and socket error that
  can reach a handler, listed in OUTAGES): 503 with Retry-After, a readable page for the routes
  people navigate to (audience "page", idp/http/routing.py), `{"error":
  "temporarily_unavailable"}` for the routes programs call, and INTERNAL_ERROR in the CAS
  format a CAS client asked for (audience "cas"). Never a 500.
- PageError (idp/http/problems.py): the readable page it names.
- Anything else unexpected: logged with its traceback, then a 500 page or `{"error":
  "server_error"}`.
Handlers below the server let these exceptions rise instead of catching them one by one.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import ldap
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from directory.base import DirectoryError
from idp.db.pg_direct import DatabaseUnavailable
from idp.http.problems import PageError
from idp.http.routing import audience_of
from idp.protocols.cas.responses import internal_error as cas_internal_error
from idp.store.base import StoreUnavailable
from idp.web.pages import error_page

log = logging.getLogger("idp")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
RETRY_AFTER = "5"

# A backend that cannot answer. The backends wrap their own failures (DirectoryUnavailable,
# StoreUnavailable, DatabaseUnavailable); the driver errors are listed too, so that one that
# slips past a wrapper is still a 503 and not a 500.
DIRECTORY_OUTAGES: tuple[type[BaseException], ...] = (
    DirectoryError, ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR, ldap.UNAVAILABLE,
    ldap.BUSY)
OUTAGES: tuple[type[BaseException], ...] = (
    *DIRECTORY_OUTAGES,
    StoreUnavailable, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
    DatabaseUnavailable, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError, sqlalchemy.exc.DisconnectionError,
    asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    OSError,  # refused, reset, timed out: the socket under any of them
)


def wants_page(request: Request) -> bool:
    """A person's browser (the route's declared audience; for a path that is no route of ours,
    what the request accepts)."""
    audience = audience_of(request.scope.get("route"))
    if audience is None:
        return "text/html" in request.headers.get("accept", "")
    return audience == "page"


async def backend_unavailable(request: Request, exc: Exception) -> Response:
    directory = isinstance(exc, DIRECTORY_OUTAGES)
    log.warning("backend unavailable on %s %s: %s: %s", request.method, request.url.path,
                type(exc).__name__, exc)
    headers = {"Retry-After": RETRY_AFTER}
    if audience_of(request.scope.get("route")) == "cas":
        return cas_internal_error(request.url.path, request.query_params.get("format"))
    if wants_page(request):
        detail = "err_directory_unavailable" if directory else "err_service_unavailable"
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail=detail, headers=headers)
    description = ("The campus directory cannot be reached." if directory
                   else "A backend of the identity provider is unavailable.")
    return JSONResponse({"error": "temporarily_unavailable", "error_description": description},
                        status_code=503, headers={**NO_STORE, **headers})


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return error_page(request, status=exc.status, title=exc.title, detail=exc.detail,
                      headers=exc.headers, values=exc.values)


async def unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    if wants_page(request):
        return error_page(request, status=500, title="err_unexpected_title",
                          detail="err_unexpected")
    return JSONResponse({"error": "server_error"}, status_code=500, headers=NO_STORE)


def install(app: FastAPI) -> None:
    for outage in OUTAGES:
        app.add_exception_handler(outage, backend_unavailable)
    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(Exception, unexpected)


def handler_for(app: Any, exc: Exception) -> Any:
    """The handler FastAPI's own exception handling would pick for `exc` (by status code for an
    HTTPException, then by the most specific class): the fast path calls the same one."""
    handlers = app.exception_handlers
    status = getattr(exc, "status_code", None)
    if status is not None and status in handlers:
        return handlers[status]
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return unexpected
