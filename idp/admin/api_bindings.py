"""/admin/api: upstream-account bindings. A person's list and removing one; binding in bulk
from a CSV (POST the file itself, text/csv, header `number,upstream_id`): every row is checked
first (422 with every problem and its line number, nothing written)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from idp.admin import service_bindings
from idp.admin.api_common import ERRORS, NO_STORE, AdminApiRoute, AdminDep, actor_of, json_error
from idp.http.routing import Router
from idp.services import ServicesDep
from idp.upstream.bindings import Binding

router = Router(audience="api", route_class=AdminApiRoute, responses=ERRORS,
                tags=["admin: upstream accounts"])

MAX_BYTES = 5 * 1024 * 1024
CSV_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {
    "type": "string", "description": "header row `number,upstream_id` (or username / userid), "
                                     "then one binding per row"}}}}}


class BindingOut(BaseModel):
    id: int
    provider: str
    issuer: str
    upstream_id: str
    display_name: str | None
    bound_by: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, binding: Binding) -> BindingOut:
        return cls(id=binding.id, provider=binding.provider, issuer=binding.issuer,
                   upstream_id=binding.external_id, display_name=binding.display_name,
                   bound_by=binding.bound_by, created_at=binding.created_at,
                   last_used_at=binding.last_used_at)


class BindingsOut(BaseModel):
    username: str
    subject: str
    bindings: list[BindingOut]


class BulkOut(BaseModel):
    bound: int
    unchanged: int


@router.get("/people/{username}/bindings", response_model=BindingsOut)
async def list_bindings(username: str, services: ServicesDep, admin: AdminDep) -> BindingsOut:
    person, found = await service_bindings.bindings_of(services, username)
    return BindingsOut(username=person.username, subject=person.subject,
                       bindings=[BindingOut.of(b) for b in found])


@router.delete("/people/{username}/bindings/{binding_id}", response_model=BindingOut)
async def remove_binding(username: str, binding_id: int, request: Request,
                         services: ServicesDep, admin: AdminDep) -> BindingOut:
    removed = await service_bindings.remove_binding(services, actor_of(admin, request),
                                                    username, binding_id)
    return BindingOut.of(removed)


@router.post("/upstream-bindings/{provider}", response_model=BulkOut, openapi_extra=CSV_BODY,
             responses={422: {"description": "problems, each with its line number; nothing "
                                             "written"}})
async def bind_bulk(provider: str, request: Request, services: ServicesDep,
                    admin: AdminDep) -> Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        return json_error(413, "invalid", f"at most {MAX_BYTES // (1024 * 1024)} MB")
    body = await request.body()
    if len(body) > MAX_BYTES:
        return json_error(413, "invalid", f"at most {MAX_BYTES // (1024 * 1024)} MB")
    result = await service_bindings.bind_bulk(services, actor_of(admin, request), provider, body)
    if result.problems and not (result.bound or result.unchanged):
        return JSONResponse({"error": "invalid", "error_description":
                             f"{len(result.problems)} problem(s); nothing was written",
                             "errors": [{"line": p.line, "message": p.message}
                                        for p in result.problems]},
                            status_code=422, headers=NO_STORE)
    return JSONResponse(BulkOut(bound=result.bound, unchanged=result.unchanged).model_dump(),
                        headers=NO_STORE)
