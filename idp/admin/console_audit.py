"""Console pages: the dashboard (sign-ins per hour per app) and the audit log (filters, pages,
CSV export)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from idp.admin import service_audit, service_clients, service_retention
from idp.admin.console_chart import sign_in_chart
from idp.admin.console_render import ConsoleRoute, open_console, page_links
from idp.admin.service_common import Invalid, record
from idp.admin.service_sessions import client_names
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="page", route_class=ConsoleRoute)
FILTERS = ("kind", "outcome", "actor", "client_id", "from", "to")
PAGE_SIZE = 100


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(int(value or default), high))
    except ValueError:
        return default


@router.get("/admin")
async def dashboard(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    hours = _int(request.query_params.get("hours"), 24, 1, service_audit.MAX_STATS_HOURS)
    stats = await service_audit.sign_ins_per_hour(services, hours)
    title = console.t("a_chart_title", hours=hours)
    chart = sign_in_chart(stats, others_label=console.t("a_others"), title=title)
    pending = len(await service_clients.list_clients(services, "pending"))
    return console.render("admin_dashboard.html", section="dashboard", hours=hours, chart=chart,
                          total=stats.total, pending=pending)


def _moment(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filters(request: Request) -> tuple[dict[str, str], service_audit.AuditFilter]:
    given = {name: request.query_params.get(name, "")[:200] for name in FILTERS}
    where = service_audit.AuditFilter(
        kind=given["kind"] or None, outcome=given["outcome"] or None, actor=given["actor"] or None,
        client_id=given["client_id"] or None, since=_moment(given["from"]),
        until=_moment(given["to"])).checked()
    return given, where


@router.get("/admin/audit")
async def audit(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    given, where = _filters(request)
    page = _int(request.query_params.get("page"), 1, 1, 100_000)
    found = await service_audit.search(services, where, page, PAGE_SIZE)
    names = await client_names(services, {e.client_id for e in found.items if e.client_id})
    export = "/admin/audit.csv?" + urlencode({k: v for k, v in given.items() if v})
    retention = await service_retention.overview(services)
    return console.render("admin_audit.html", section="audit", events=found.items, filters=given,
                          names=names, page=page, export=export, retention=retention,
                          links=page_links("/admin/audit", given, page, found.has_more))


@router.get("/admin/audit.csv")
async def audit_csv(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    _given, where = _filters(request)
    await record(services, console.actor, "export_audit")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        await service_audit.export_csv(services, where), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
                 "Cache-Control": "no-store"})
