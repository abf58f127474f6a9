"""HTTP routes of CAS 3.0, under /cas/. Routes only hand the request to a pipeline (login.py,
validation.py, logout.py): no protocol logic lives here.

/login, its resume and /logout are pages people navigate to; the validation endpoints and /proxy
are called by CAS clients, which read CAS's own answers (audience "cas": even an outage is an
INTERNAL_ERROR in the format they asked for). Validation runs on every CAS sign-in, so it takes
the fast path.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from idp.http.routing import Router
from idp.protocols.cas import login as cas_login
from idp.protocols.cas import logout as cas_logout
from idp.protocols.cas import validation
from idp.services import services_of

router = Router(audience="cas", tags=["cas"], include_in_schema=False)


@router.api_route("/cas/login", methods=["GET", "POST"], audience="page", fast=True)
async def login(request: Request) -> Response:
    return await cas_login.login(services_of(request), request)


@router.get("/cas/login/resume/{signin_id}", audience="page", fast=True)
async def login_resume(request: Request) -> Response:
    return await cas_login.resume(services_of(request), request,
                                  request.path_params["signin_id"])


@router.get("/cas/logout", audience="page")
async def logout(request: Request) -> Response:
    return await cas_logout.logout(services_of(request), request)


@router.get("/cas/validate", fast=True)
async def validate(request: Request) -> Response:
    return await validation.validate_v1(services_of(request), request)


@router.get("/cas/serviceValidate", fast=True)
async def service_validate(request: Request) -> Response:
    return await validation.validate(services_of(request), request, proxies=False,
                                     attributes=False)


@router.get("/cas/proxyValidate", fast=True)
async def proxy_validate(request: Request) -> Response:
    return await validation.validate(services_of(request), request, proxies=True,
                                     attributes=False)


@router.get("/cas/p3/serviceValidate", fast=True)
async def p3_service_validate(request: Request) -> Response:
    return await validation.validate(services_of(request), request, proxies=False,
                                     attributes=True)


@router.get("/cas/p3/proxyValidate", fast=True)
async def p3_proxy_validate(request: Request) -> Response:
    return await validation.validate(services_of(request), request, proxies=True,
                                     attributes=True)


@router.get("/cas/proxy", fast=True)
async def proxy(request: Request) -> Response:
    return await validation.proxy(services_of(request), request)
