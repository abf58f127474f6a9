"""HTTP routes of the protocol engine. Routes only hand the request to a pipeline
(authorize.py, handlers.py): no protocol logic lives here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from idp.deps import ServicesDep
from idp.oauth import authorize as authorization
from idp.oauth import handlers
from idp.oauth.discovery import provider_metadata

router = APIRouter(tags=["oauth"])

METADATA_CACHE = {"Cache-Control": "public, max-age=300"}


@router.get("/.well-known/openid-configuration")
async def openid_configuration(services: ServicesDep) -> JSONResponse:
    return JSONResponse(provider_metadata(services.settings), headers=METADATA_CACHE)


@router.get("/.well-known/oauth-authorization-server")
async def oauth_authorization_server(services: ServicesDep) -> JSONResponse:
    return JSONResponse(provider_metadata(services.settings), headers=METADATA_CACHE)


@router.get("/jwks")
async def jwks(services: ServicesDep) -> Response:
    # short cache: relying parties must see a rotation's next key soon (OIDC Core §10.1.1)
    return Response(services.keys.jwks_json(), media_type="application/jwk-set+json",
                    headers={"Cache-Control": "public, max-age=300"})


@router.api_route("/authorize", methods=["GET", "POST"], include_in_schema=False)
async def authorize(request: Request, services: ServicesDep) -> Response:
    return await authorization.authorize(services, request)


@router.get("/authorize/resume/{interaction_id}")
async def authorize_resume(interaction_id: str, request: Request,
                           services: ServicesDep) -> Response:
    return await authorization.resume(services, request, interaction_id)


@router.post("/token")
async def token(request: Request, services: ServicesDep) -> Response:
    return await handlers.token(services, request)


@router.get("/userinfo", operation_id="userinfo_get")
@router.post("/userinfo", operation_id="userinfo_post")
async def userinfo(request: Request, services: ServicesDep) -> Response:
    return await handlers.userinfo(services, request)


@router.post("/introspect")
async def introspect(request: Request, services: ServicesDep) -> Response:
    return await handlers.introspect(services, request)


@router.post("/revoke")
async def revoke(request: Request, services: ServicesDep) -> Response:
    return await handlers.revoke(services, request)
