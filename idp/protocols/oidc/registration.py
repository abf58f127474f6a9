"""Dynamic client registration: RFC 7591 (POST /register) and RFC 7592 (GET, PUT, DELETE
/register/{client_id}).

Why not authlib's ClientRegistrationEndpoint / ClientConfigurationEndpoint: they answer a
missing token with 403 access_denied (RFC 7591 §3 and RFC 7592 §2 want RFC 6750's 401
invalid_token), report every metadata problem as invalid_client_metadata (we must say
invalid_redirect_uri, §3.2.2), trust the JSON types they are given, and their save/update hooks
are synchronous. What would remain of them is the order of a few calls, so each endpoint here is
a short pipeline of named steps instead: authenticate -> read JSON -> check metadata -> store ->
respond.

Registration is gated by initial access tokens (RFC 7591 §3, `idp clients token`); each client
gets a registration access token for its configuration endpoint (RFC 7592 §3). Clients that
ask for scopes beyond the basic set are created `pending` until an admin approves them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from idp.db.models import Client
from idp.http.routing import Router
from idp.protocols.oidc import registration_store as store
from idp.protocols.oidc.registration_metadata import (
    ClientMetadata,
    MetadataError,
    client_information,
    parse_metadata,
)
from idp.services import Services, ServicesDep

log = logging.getLogger("idp.registration")

MAX_BODY = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 7592 §2.2: the client must not send these back in an update
SERVER_FIELDS = ("registration_access_token", "registration_client_uri",
                 "client_secret_expires_at", "client_id_issued_at")


router = Router(audience="api", tags=["registration"])


def error(status: int, code: str, description: str,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status,
                        headers={**NO_STORE, **(headers or {})})


def unauthorized(description: str, *, token_sent: bool) -> JSONResponse:
    """RFC 6750 §3: no token at all gets the bare challenge; a bad one gets invalid_token."""
    if not token_sent:
        return error(401, "invalid_request", description,
                     headers={"WWW-Authenticate": 'Bearer realm="campus-idp"'})
    return error(401, "invalid_token", description, headers={
        "WWW-Authenticate": 'Bearer realm="campus-idp", error="invalid_token"'})


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header (RFC 6750 §2.1), or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def read_json(request: Request) -> Any:
    """The JSON body, or MetadataError: bad JSON is the client's mistake, a 400."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (content_type == "application/json" or content_type.endswith("+json")):
        raise MetadataError("invalid_client_metadata",
                            "send the client metadata as application/json (RFC 7591 section 3.1)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise MetadataError("invalid_client_metadata", "the request body is too large")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise MetadataError("invalid_client_metadata", "the request body is too large")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MetadataError("invalid_client_metadata",
                            "the request body is not valid JSON") from None


def rejected(exc: MetadataError) -> JSONResponse:
    return error(400, exc.error, exc.description)


def registration_uri(services: Services, client_id: str) -> str:
    return f"{services.settings.issuer}/register/{client_id}"


def information_response(services: Services, client: Client, *, status: int,
                         registration_token: str | None, secret: str | None = None
                         ) -> JSONResponse:
    body = client_information(client)
    if secret is not None:
        body["client_secret"] = secret
    if registration_token is not None:
        body["registration_access_token"] = registration_token
        body["registration_client_uri"] = registration_uri(services, client.client_id)
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def _audit(services: Services, request: Request, outcome: str, *, action: str,
                 client_id: str | None = None, actor: str | None = None, **detail: Any) -> None:
    ip = request.client.host if request.client else None
    await services.audit.record("developer", outcome, actor=actor, client_id=client_id, ip=ip,
                                action=action, via="rfc7591", **detail)


@router.post("/register", status_code=201)
async def register(request: Request, services: ServicesDep) -> Response:
    """RFC 7591 §3.1: register a client; §3.2.1: 201 with the client information."""
    token = bearer_token(request)
    initial = await store.redeem_initial_access_token(services.db, token)
    if initial is None:
        await _audit(services, request, "invalid_token", action="register")
        return unauthorized("A valid initial access token is required (RFC 7591 section 3).",
                            token_sent=token is not None)
    try:
        metadata = parse_metadata(await read_json(request))
    except MetadataError as exc:
        await _audit(services, request, exc.error, action="register", reason=exc.description)
        return rejected(exc)
    registered = await store.create_registered_client(
        services.db, metadata, owner=None, via="rfc7591",
        origin={"initial_access_token": initial.digest[:12]},
    )
    client = registered.client
    await _audit(services, request, "success", action="register", client_id=client.client_id,
                 actor=initial.issued_by, status=client.status, scopes=client.scopes)
    return information_response(services, client, status=201, secret=registered.secret,
                                registration_token=registered.registration_token)


async def _configured_client(services: Services, request: Request,
                             client_id: str) -> tuple[Client | None, str | None]:
    token = bearer_token(request)
    return await store.client_by_registration_token(services.db, client_id, token), token


def _not_yours(token: str | None) -> JSONResponse:
    # RFC 7592 §2: an invalid token, or a client that does not exist, is 401 invalid_token
    return unauthorized("A valid registration access token for this client is required "
                        "(RFC 7592 section 3).", token_sent=token is not None)


@router.get("/register/{client_id}")
async def read_client(client_id: str, request: Request, services: ServicesDep) -> Response:
    """RFC 7592 §2.1: the client's current configuration."""
    client, token = await _configured_client(services, request, client_id)
    if client is None:
        return _not_yours(token)
    return information_response(services, client, status=200, registration_token=token)


def _check_update_body(data: Any, client: Client) -> None:
    """RFC 7592 §2.2: the body carries the client_id, never the server-issued fields, and a
    client_secret only if it is the current one."""
    if not isinstance(data, dict):
        raise MetadataError("invalid_client_metadata",
                            "the request body must be a JSON object of client metadata")
    for name in SERVER_FIELDS:
        if name in data:
            raise MetadataError("invalid_request", f"{name} must not be sent in an update "
                                "(RFC 7592 section 2.2)")
    if data.get("client_id") != client.client_id:
        raise MetadataError("invalid_request", "the body's client_id must be this client's "
                            "(RFC 7592 section 2.2)")
    if "client_secret" in data and not store.secret_matches(client, data["client_secret"]):
        raise MetadataError("invalid_request", "client_secret does not match the current secret")


@router.put("/register/{client_id}")
async def update_client(client_id: str, request: Request, services: ServicesDep) -> Response:
    """RFC 7592 §2.2: replace the client's metadata (omitted fields get their defaults)."""
    client, token = await _configured_client(services, request, client_id)
    if client is None:
        return _not_yours(token)
    try:
        data = await read_json(request)
        _check_update_body(data, client)
        metadata: ClientMetadata = parse_metadata(data)
        updated = await store.update_registered_client(services.db, client_id, metadata)
    except MetadataError as exc:
        await _audit(services, request, exc.error, action="update", client_id=client_id,
                     reason=exc.description)
        return rejected(exc)
    except LookupError:  # deleted between the two steps
        return _not_yours(token)
    await _audit(services, request, "success", action="update", client_id=client_id,
                 status=updated.status, scopes=updated.scopes)
    return information_response(services, updated, status=200, registration_token=token)


@router.delete("/register/{client_id}", status_code=204)
async def delete_client(client_id: str, request: Request, services: ServicesDep) -> Response:
    """RFC 7592 §2.3: delete the client; its refresh tokens are revoked with it."""
    client, token = await _configured_client(services, request, client_id)
    if client is None:
        return _not_yours(token)
    revoked = await store.delete_registered_client(services.db, client_id)
    await _audit(services, request, "success", action="delete", client_id=client_id,
                 refresh_tokens_revoked=revoked)
    return Response(status_code=204, headers=NO_STORE)
