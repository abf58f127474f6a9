"""HTTP routes of the protocol engine. Routes only hand the request to a pipeline
(authorize.py, handlers.py): no protocol logic lives here.

Every endpoint here is called at volume (discovery, JWKS, token, introspection, revocation,
userinfo, and the authorization endpoint, which every sign-in and code flow passes), so each is
declared fast: the edge calls it directly, without FastAPI's routing and dependency solving (7%
of a code flow; idp/server/routes.py). The ones browser apps call from their own origin are
declared cors."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from idp.http.documents import Document
from idp.http.routing import Router
from idp.protocols.oidc import authorize as authorization
from idp.protocols.oidc import device_authorization as devices
from idp.protocols.oidc import device_verification, handlers
from idp.protocols.oidc.discovery import provider_metadata
from idp.protocols.oidc.miniprogram import mini_program_code
from idp.services import Services, services_of

router = Router(audience="api", tags=["oauth"])

METADATA_CACHE = {"Cache-Control": "public, max-age=300"}
# short cache: relying parties must see a rotation's next key soon (OIDC Core §10.1.1)
JWKS_CACHE = {"Cache-Control": "public, max-age=300"}


def _metadata_body(app: Any) -> bytes:
    state = app.state
    body: bytes | None = getattr(state, "metadata_json", None)
    if body is None:  # the document follows from the settings alone: encode it once per app
        body = state.metadata_json = JSONResponse(provider_metadata(state.services.settings)).body
    return body


def _jwks_body(app: Any) -> bytes:
    services: Services = app.state.services
    return services.keys.jwks_json()


METADATA = Document(_metadata_body, "application/json", METADATA_CACHE)
JWKS = Document(_jwks_body, "application/jwk-set+json", JWKS_CACHE)

router.get("/.well-known/openid-configuration", fast=True, cors=True)(
    METADATA.endpoint("openid_configuration"))
router.get("/.well-known/oauth-authorization-server", fast=True, cors=True)(
    METADATA.endpoint("oauth_authorization_server"))
router.get("/jwks", fast=True, cors=True)(JWKS.endpoint("jwks"))


@router.api_route("/authorize", methods=["GET", "POST"], fast=True, audience="page",
                  include_in_schema=False)
async def authorize(request: Request) -> Response:
    return await authorization.authorize(services_of(request), request)


@router.get("/authorize/resume/{signin_id}", fast=True, audience="page",
            include_in_schema=False)
async def authorize_resume(request: Request) -> Response:
    return await authorization.resume(services_of(request), request,
                                      request.path_params["signin_id"])


@router.post("/token", fast=True, cors=True)
async def token(request: Request) -> Response:
    return await handlers.token(services_of(request), request)


@router.get("/userinfo", operation_id="userinfo_get", fast=True, cors=True)
@router.post("/userinfo", operation_id="userinfo_post", fast=True, cors=True)
async def userinfo(request: Request) -> Response:
    return await handlers.userinfo(services_of(request), request)


@router.post("/introspect", fast=True)
async def introspect(request: Request) -> Response:
    return await handlers.introspect(services_of(request), request)


@router.post("/revoke", fast=True, cors=True)
async def revoke(request: Request) -> Response:
    return await handlers.revoke(services_of(request), request)


@router.post("/upstream/{name}/mini-program/code")
async def wechat_mini_program_code(name: str, request: Request) -> Response:
    """The campus WeChat mini-program's wx.login code for an authorization code
    (miniprogram.py)."""
    return await mini_program_code(services_of(request), request, name)


@router.post("/device_authorization", fast=True)
async def device_authorization(request: Request) -> Response:
    return await devices.device_authorization(services_of(request), request)


@router.get("/device/resume/{signin_id}", fast=True, audience="page", include_in_schema=False)
async def device_resume(request: Request) -> Response:
    return await device_verification.resume(services_of(request), request,
                                            request.path_params["signin_id"])
