"""The endpoints the edge (idp/edge.py) calls directly, without FastAPI's routing and dependency
solving: the protocol endpoints that clients and resource servers call at volume, and the pages
every sign-in passes (the login form, the way back into the authorization). FastAPI's router
serves the same functions too (OpenAPI, tests that mount a router); both give the same answers.

Pages with one path parameter at the end (`/login/{interaction_id}`) are found by the path up to
their last `/`; the parameter reaches the endpoint as `request.path_params`, as under FastAPI."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.protocols.oidc.routes import ENDPOINTS, Endpoint, authorize_resume
from idp.services import services_of
from idp.web import login
from idp.web.unavailable import outage_page

__all__ = ["ENDPOINTS", "PARAM_ENDPOINTS", "Endpoint"]


@outage_page
async def _login_page(request: Request) -> Response:
    return await login.login_page(request.path_params["interaction_id"], request,
                                  services_of(request))


@outage_page
async def _login_submit(request: Request) -> Response:
    return await login.login_submit(request.path_params["interaction_id"], request,
                                    services_of(request))


# (method, the path up to the parameter) → (the route's template, its parameter, the endpoint)
PARAM_ENDPOINTS: dict[tuple[str, str], tuple[str, str, Endpoint]] = {
    ("GET", "/authorize/resume"): ("/authorize/resume/{interaction_id}", "interaction_id",
                                   authorize_resume),
    ("GET", "/login"): ("/login/{interaction_id}", "interaction_id", _login_page),
    ("POST", "/login"): ("/login/{interaction_id}", "interaction_id", _login_submit),
}
