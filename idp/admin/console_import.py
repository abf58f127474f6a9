"""Console import: upload a CSV, see every error with its line number (nothing written), or
start the import in the background and watch its progress (a meta refresh; no JavaScript)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from idp.admin import service_import_jobs
from idp.admin.console_i18n import text
from idp.admin.console_render import ConsoleRoute, failure_page, open_console, open_form
from idp.admin.service_import import ImportTarget, check_file
from idp.admin.service_import_rows import MAX_BYTES
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="page", route_class=ConsoleRoute)
REFRESH_SECONDS = 2


@router.get("/admin/import")
async def import_page(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    return console.render("admin_import.html", section="import", errors=[], valid=None,
                          activation=services.settings.activation.enabled)


@router.post("/admin/import")
async def upload(request: Request, services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return console.render("admin_import.html", section="import", status=400, valid=None,
                              errors=[], error=console.t("i_no_file"))
    activation = services.settings.activation.enabled
    if form.get("activate") == "1" and not activation:
        return console.render("admin_import.html", section="import", status=400, valid=None,
                              errors=[], error=console.t("i_activate_off"), activation=False)
    data = await upload.read(MAX_BYTES + 1)
    target = ImportTarget.of(services)
    plan = await check_file(target, data)
    plan.activate = form.get("activate") == "1"
    if not plan.valid:
        return console.render("admin_import.html", section="import", status=422, valid=None,
                              errors=[str(e) for e in plan.errors], error_count=plan.error_count,
                              activation=activation)
    if form.get("dry_run") == "1":
        return console.render("admin_import.html", section="import", errors=[],
                              valid=len(plan.rows), activation=activation)
    job_id = await service_import_jobs.start_job(services, console.actor, plan, upload.filename)
    return console.redirect(f"/admin/import/{job_id}")


@router.get("/admin/import/{job_id}")
async def job(job_id: str, request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    state = await service_import_jobs.job_state(services, job_id)
    if state is None:
        return failure_page(request, 404, console.t("i_gone"))
    response = console.render("admin_import_job.html", section="import", job=state,
                              mine=state.get("by") == console.who.person.username)
    if state["state"] == "running":
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@router.get("/admin/import/{job_id}/result.csv")
async def result(job_id: str, request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    csv_text = await service_import_jobs.take_result(services, job_id, console.who.person.username)
    if csv_text is None:
        return failure_page(request, 404, text("i_gone", console.locale))
    return Response(csv_text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="import-{job_id}.csv"',
        "Cache-Control": "no-store"})
