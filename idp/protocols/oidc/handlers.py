"""The back-channel endpoints as pipelines: prefetch -> authlib -> commit -> respond.

/token (RFC 6749 §3.2, §5), /introspect (RFC 7662), /revoke (RFC 7009), /userinfo
(OIDC Core §5.3). No protocol decisions here: authlib makes them, over prefetched data. A
backend that fails raises to the server's one error policy (a 503 temporarily_unavailable).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from fastapi import Request
from fastapi.responses import Response

from idp.protocols.oidc.adapter import (
    IdpRequest,
    InsecureTransportError,
    audit_failure,
    client_ip,
    commit,
    give_back_claim,
    insecure,
    oauth_request,
    prefetch_client,
    prefetch_presented_token,
    prefetch_token_request,
    read_params,
    respond,
    run,
)
from idp.protocols.oidc.context import OAuthContext
from idp.protocols.oidc.server import SERVER

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger("idp.oauth")


async def _begin(services: Services, request: Request) -> tuple[IdpRequest, OAuthContext] | Response:
    """What every back-channel endpoint starts with: its parameters as authlib's request, and
    an empty context; or the error when the transport is not https (RFC 6749 §10.9)."""
    query, form = await read_params(request)
    try:
        req = oauth_request(services, request, query, form)
    except InsecureTransportError:
        return insecure()
    return req, OAuthContext(services, ip=client_ip(request))


async def token(services: Services, request: Request) -> Response:
    begun = await _begin(services, request)
    if isinstance(begun, Response):
        return begun
    req, ctx = begun
    try:
        await prefetch_token_request(ctx, req)
        result = run(ctx, lambda: SERVER.create_token_response(req))
        if result[0] == 200 and await commit(ctx):
            ctx.claim = None  # the claimed refresh token's successor is sent: the rotation stands
        elif result[0] == 200:
            # a concurrent request rotated this refresh token first (this one is the reuse), or
            # replayed this code, or revoked the sign-in behind it, while it was being redeemed:
            # nothing issued may be sent
            result = SERVER.handle_error_response(req, InvalidGrantError())
        else:
            await give_back_claim(ctx)
            ctx.releases.clear()  # an error answer releases nothing
            await commit(ctx)  # revocations (code replay, refresh reuse) and audit notes
            await audit_failure(ctx, req, result)
    except Exception:
        # a backend failed (the error policy answers 503): a refresh token claimed for this
        # grant is usable again, so the client's retry is not taken for a reuse
        if ctx.claim is not None:
            try:
                await give_back_claim(ctx)
            except Exception:
                log.exception("a claimed refresh token could not be given back")
        raise
    return respond(result)


async def introspect(services: Services, request: Request) -> Response:
    return await _token_endpoint(services, request, "introspection")


async def revoke(services: Services, request: Request) -> Response:
    return await _token_endpoint(services, request, "revocation")


async def _token_endpoint(services: Services, request: Request, name: str) -> Response:
    begun = await _begin(services, request)
    if isinstance(begun, Response):
        return begun
    req, ctx = begun
    # the client and the token, nothing else: a code or a refresh token sent along in the body
    # is not this endpoint's to redeem or to check for reuse
    await prefetch_client(ctx, req)
    await prefetch_presented_token(ctx, req.form.get("token"))
    result = run(ctx, lambda: SERVER.create_endpoint_response(name, req))
    await commit(ctx, kind="token")
    await audit_failure(ctx, req, result)
    response = respond(result)
    response.headers["Cache-Control"] = "no-store"
    return response


def bearer_token(request: Request, form: dict[str, str]) -> str | None:
    """RFC 6750 §2.1 (Authorization header) and §2.2 (form body). The query string (§2.3) is
    refused: URLs end up in logs and Referer headers."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method == "POST" and form.get("access_token"):
        return form["access_token"]
    return None


async def userinfo(services: Services, request: Request) -> Response:
    begun = await _begin(services, request)
    if isinstance(begun, Response):
        return begun
    req, ctx = begun
    presented = bearer_token(request, req.form)
    ctx.bearer_present = presented is not None
    await prefetch_presented_token(ctx, presented, refresh_tokens=False)
    token = ctx.access_token
    if token is not None and not token.is_revoked() and token.get_user():
        ctx.person = await services.directory.by_subject(str(token.get_user()))
    if token is not None and services.settings.issuer + "/userinfo" not in token.audiences():
        ctx.access_token = None  # a token for another resource server
    result = run(ctx, lambda: SERVER.create_endpoint_response("userinfo", req))
    if result[0] == 200:
        ctx.record_releases()
    response = respond(result)
    response.headers["Cache-Control"] = "no-store"
    return response
