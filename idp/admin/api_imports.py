"""/admin/api/imports: the bulk intake over the API. POST the CSV itself (text/csv); every row is
checked first (422 with every error and its line number, nothing written); `dry_run=true` stops
there; otherwise the import runs in the background (202) and GET reports its progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from idp.admin import service_import_jobs
from idp.admin.api_common import ERRORS, NO_STORE, AdminApiRoute, AdminDep, actor_of, json_error
from idp.admin.service_common import NotFound
from idp.admin.service_import import ImportTarget, check_file
from idp.admin.service_import_rows import MAX_BYTES
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="api", route_class=AdminApiRoute, responses=ERRORS, tags=["admin: import"])

CSV_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {
    "type": "string", "description": "header row, then one person per row (see `idp users import "
                                     "--help` for the columns)"}}}}}


class ImportJobOut(BaseModel):
    id: str
    state: str = Field(description="running, done or failed")
    filename: str
    by: str
    total: int
    done: int
    created: int
    updated: int
    unchanged: int
    failure: str | None = Field(description="the row that stopped the import (rolled back)")
    passwords: int = Field(0, description="one-time passwords generated (in the result, once)")
    to_activate: int = Field(0, description="people created without a password and marked to "
                                            "activate (activate=true)")


class CheckedOut(BaseModel):
    valid_rows: int


@router.post("/imports", status_code=202, response_model=ImportJobOut, openapi_extra=CSV_BODY,
             responses={200: {"model": CheckedOut, "description": "dry_run: every row is valid"},
                        422: {"description": "errors, each with its line number; nothing written"}})
async def start_import(request: Request, services: ServicesDep, admin: AdminDep,
                       dry_run: Annotated[bool, Query()] = False,
                       activate: Annotated[bool, Query(description=(
                           "new people without a password are marked to activate (/activate) "
                           "instead of getting a one-time password"))] = False,
                       filename: Annotated[str, Query(max_length=200)] = "upload.csv") -> Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        return json_error(413, "invalid", f"at most {MAX_BYTES // (1024 * 1024)} MB")
    if activate and not services.settings.activation.enabled:
        return json_error(422, "invalid", "activate=true needs IDP_ACTIVATION_FACTS (activation "
                                          "is off: nobody could activate)")
    plan = await check_file(ImportTarget.of(services), await request.body())
    plan.activate = activate
    if not plan.valid:
        return JSONResponse({"error": "invalid", "error_description": f"{plan.error_count} error(s); "
                             "nothing was written", "errors": [
                                 {"line": e.line, "column": e.column, "message": e.message}
                                 for e in plan.errors]}, status_code=422, headers=NO_STORE)
    if dry_run:
        return JSONResponse({"valid_rows": len(plan.rows)}, headers=NO_STORE)
    job_id = await service_import_jobs.start_job(services, actor_of(admin, request), plan, filename)
    state = await service_import_jobs.job_state(services, job_id)
    return JSONResponse(ImportJobOut.model_validate(state).model_dump(), status_code=202,
                        headers={**NO_STORE, "Location": f"/admin/api/imports/{job_id}"})


@router.get("/imports/{job_id}", response_model=ImportJobOut)
async def import_progress(job_id: str, services: ServicesDep, admin: AdminDep) -> ImportJobOut:
    state = await service_import_jobs.job_state(services, job_id)
    if state is None:
        raise NotFound("no such import (they are kept for a day)")
    return ImportJobOut.model_validate(state)


@router.get("/imports/{job_id}/result", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "line, username, status, "
                                                                         "one-time password"}})
async def import_result(job_id: str, services: ServicesDep, admin: AdminDep) -> Response:
    """The result, once, for the admin who started the import."""
    text = await service_import_jobs.take_result(services, job_id, admin.person.username)
    if text is None:
        raise NotFound("no result: the import is running, was started by someone else, has "
                       "expired, or its result was already fetched")
    return Response(text, media_type="text/csv; charset=utf-8", headers=NO_STORE)
