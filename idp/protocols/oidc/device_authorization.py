"""The device authorization endpoint (RFC 8628 §3.1, §3.2) as a pipeline:

    authenticate the client (as at the token endpoint; public clients by client_id alone)
    -> it must be registered for the device grant -> narrow the scope, check resources
    -> issue a device code and a user code -> answer with where the person goes

The person's side (entering the code, signing in, confirming) is device_verification.py and the
pages under /device; the device's polling is the token endpoint (device_grant.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import (
    InvalidRequestError,
    OAuth2Error,
    UnauthorizedClientError,
)
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from idp.protocols.oidc.adapter import (
    InsecureTransportError,
    audit_failure,
    client_ip,
    insecure,
    oauth_request,
    prefetch_client,
    read_params,
    respond,
)
from idp.protocols.oidc.context import OAuthContext, bound
from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT, DeviceCodes, display_user_code
from idp.protocols.oidc.grants import ALL_AUTH_METHODS, check_resource
from idp.protocols.oidc.server import SERVER

if TYPE_CHECKING:
    from idp.protocols.oidc.adapter import IdpRequest
    from idp.protocols.oidc.models import OAuthClient
    from idp.services import Services

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SINGLE_VALUED = ("client_id", "scope")


def verification_uris(issuer: str, user_code: str) -> tuple[str, str]:
    """(verification_uri, verification_uri_complete): the page, and the page with the code
    filled in (§3.3.1), which still asks the person to confirm."""
    page = f"{issuer}/device"
    return page, f"{page}?{urlencode({'user_code': display_user_code(user_code)})}"


async def device_authorization(services: Services, request: Request) -> Response:
    query, form = await read_params(request)
    try:
        req = oauth_request(services, request, query, form)
    except InsecureTransportError:
        return insecure()
    ctx = OAuthContext(services, ip=client_ip(request))
    await prefetch_client(ctx, req)
    try:
        client = _authenticate(ctx, req)
        scope, resource = _requested(req, client)
    except OAuth2Error as error:
        result = SERVER.handle_error_response(req, error)
        await audit_failure(ctx, req, result)
        return respond(result)
    issued = await DeviceCodes(services.store, services.settings.device).issue(
        client.get_client_id(), scope, ip=ctx.ip, resource=resource)
    await services.audit.record("device", "authorization_issued", client_id=client.client_id,
                                ip=ctx.ip, scope=scope)
    page, complete = verification_uris(services.settings.issuer, issued.user_code)
    body = {
        "device_code": issued.device_code, "user_code": display_user_code(issued.user_code),
        "verification_uri": page, "verification_uri_complete": complete,
        "expires_in": services.settings.device.code_ttl,
        "interval": services.settings.device.interval,
    }
    return JSONResponse(body, headers=NO_STORE)


def _authenticate(ctx: OAuthContext, req: IdpRequest) -> OAuthClient:
    """§3.1: client authentication as for the token endpoint (RFC 6749 §3.2.1)."""
    for name in SINGLE_VALUED:
        if len(req.payload.datalist.get(name, [])) > 1:
            raise InvalidRequestError(f"'{name}' may be sent only once.")
    with bound(ctx):
        client: OAuthClient = SERVER.authenticate_client(req, ALL_AUTH_METHODS,
                                                         "device_authorization")
    if not client.check_grant_type(DEVICE_CODE_GRANT):
        raise UnauthorizedClientError("The client is not registered for the device grant "
                                      f"({DEVICE_CODE_GRANT}).")
    return client


def _requested(req: IdpRequest, client: OAuthClient) -> tuple[str, list[str]]:
    """The scopes the client may have (others dropped, as at /authorize) and its resource
    indicators (RFC 8707)."""
    scope = client.get_allowed_scope(req.payload.data.get("scope"))
    resource = check_resource(list(req.payload.datalist.get("resource", [])))
    return scope, resource
