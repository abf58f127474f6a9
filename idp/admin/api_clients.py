"""/admin/api/clients: list, approve, edit, disable / enable, rotate the secret, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request

from idp.admin import service_clients
from idp.admin.api_common import ERRORS, AdminApiRoute, AdminDep, actor_of
from idp.admin.api_models import ClientEditIn, ClientOut, DeletedOut, SecretOut
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="api", route_class=AdminApiRoute, responses=ERRORS, tags=["admin: clients"])


@router.get("/clients", response_model=list[ClientOut])
async def list_clients(
    services: ServicesDep, admin: AdminDep,
    status: Annotated[Literal["active", "pending", "disabled"] | None, Query()] = None,
) -> list[ClientOut]:
    return [ClientOut.of(c) for c in await service_clients.list_clients(services, status)]


@router.get("/clients/{client_id}", response_model=ClientOut)
async def get_client(client_id: str, services: ServicesDep, admin: AdminDep) -> ClientOut:
    return ClientOut.of(await service_clients.get_client(services, client_id))


@router.patch("/clients/{client_id}", response_model=ClientOut)
async def edit_client(client_id: str, body: ClientEditIn, request: Request, services: ServicesDep,
                      admin: AdminDep) -> ClientOut:
    """Edit an OIDC client (scopes set here count as approved by the admin who set them) or a
    CAS service (services, slo_url, attributes, proxy_callbacks)."""
    client = await service_clients.edit(services, actor_of(admin, request), client_id,
                                        body.model_dump(exclude_unset=True))
    return ClientOut.of(client)


@router.post("/clients/{client_id}/approve", response_model=ClientOut)
async def approve_client(client_id: str, request: Request, services: ServicesDep,
                         admin: AdminDep) -> ClientOut:
    """A pending client becomes active with the scopes it asked for."""
    return ClientOut.of(await service_clients.approve(services, actor_of(admin, request), client_id))


@router.post("/clients/{client_id}/disable", response_model=ClientOut)
async def disable_client(client_id: str, request: Request, services: ServicesDep,
                         admin: AdminDep) -> ClientOut:
    return ClientOut.of(await service_clients.set_status(services, actor_of(admin, request),
                                                         client_id, True))


@router.post("/clients/{client_id}/enable", response_model=ClientOut)
async def enable_client(client_id: str, request: Request, services: ServicesDep,
                        admin: AdminDep) -> ClientOut:
    return ClientOut.of(await service_clients.set_status(services, actor_of(admin, request),
                                                         client_id, False))


@router.post("/clients/{client_id}/rotate-secret", response_model=SecretOut)
async def rotate_secret(client_id: str, request: Request, services: ServicesDep,
                        admin: AdminDep) -> SecretOut:
    """A new secret, shown once; the previous one keeps working until previous_secret_expires."""
    secret = await service_clients.rotate_secret(services, actor_of(admin, request), client_id)
    client = await service_clients.get_client(services, client_id)
    return SecretOut(client_id=client_id, client_secret=secret,
                     previous_secret_expires=client.previous_secret_expires)


@router.delete("/clients/{client_id}", response_model=DeletedOut)
async def delete_client(client_id: str, request: Request, services: ServicesDep,
                        admin: AdminDep) -> DeletedOut:
    """Delete the client and its consents; its refresh tokens are revoked."""
    revoked = await service_clients.delete(services, actor_of(admin, request), client_id)
    return DeletedOut(client_id=client_id, refresh_tokens_revoked=revoked)
