"""What every admin API route shares: bearer authentication as a FastAPI dependency (so the
OpenAPI schema shows it), the Actor of the call, and one route class that turns every refusal
into a JSON error ({"error", "error_description"}). Outages are the server's error policy's
(idp/server/errors.py): a 503 JSON error, as on every API."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from idp.admin.api_models import ErrorOut
from idp.admin.auth import ADMIN_SCOPE, AdminPrincipal, BearerProblem, authenticate_bearer
from idp.admin.service_common import Actor, AdminError
from idp.http.routing import Route
from idp.services import ServicesDep

log = logging.getLogger("idp.admin")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="campus-idp access token",
    description=f"An access token issued by this campus-idp with the scope `{ADMIN_SCOPE}`, to a "
                "member of the admin group (RFC 6750 Bearer, RFC 9068 JWT).",
)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no access token, or not a valid one"},
    403: {"model": ErrorOut, "description": f"the token lacks {ADMIN_SCOPE}, or its person is "
                                             "not (any more) an admin"},
    503: {"model": ErrorOut, "description": "the directory or a database is unavailable"},
}


def json_error(status: int, code: str, description: str,
               headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status,
                        headers={**NO_STORE, **(headers or {})})


class AdminApiRoute(Route):
    """Refusals as JSON errors, for the dependency (auth) and the route alike."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except BearerProblem as problem:
                return json_error(problem.status, problem.error, problem.description,
                                  {"WWW-Authenticate": problem.challenge()})
            except AdminError as exc:
                headers = {"Retry-After": "5"} if exc.status == 503 else None
                return json_error(exc.status, exc.code, exc.message, headers)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handle


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def admin_principal(
    request: Request, services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> AdminPrincipal:
    try:
        return await authenticate_bearer(services, credentials.credentials if credentials else None)
    except BearerProblem as problem:
        if problem.status == 403:  # a real token, but not an admin's: worth an audit line
            await services.audit.record("admin", "forbidden", ip=client_ip(request),
                                        path=request.url.path, reason=problem.description)
        raise


AdminDep = Annotated[AdminPrincipal, Depends(admin_principal)]


def actor_of(principal: AdminPrincipal, request: Request) -> Actor:
    return Actor(username=principal.person.username, via="api", ip=client_ip(request),
                 client_id=principal.client_id)
