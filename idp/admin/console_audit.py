"""Console pages: the dashboard (its charts: console_chart.py) and the audit log (filters, pages,
CSV export)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from idp.admin import service_audit, service_clients, service_retention
from idp.admin.console_chart import RANGES, dashboard_charts
from idp.admin.console_render import ConsoleRoute, open_console, page_links
from idp.admin.console_words import KINDS, OUTCOMES, detail_fields, word
from idp.admin.service_common import Invalid, record
from idp.admin.service_sessions import client_names
from idp.db.models import AuditEvent
from idp.http.routing import Router
from idp.services import ServicesDep
from idp.web.i18n import Locale

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
    board = await service_audit.dashboard(services, hours)
    charts = dashboard_charts(board, hours, console.locale, console.t)
    pending = len(await service_clients.list_clients(services, "pending"))
    return console.render("admin_dashboard.html", section="dashboard", hours=hours, charts=charts,
                          chart_data=[chart.option() for chart in charts], ranges=RANGES,
                          total=board.sign_ins.total, pending=pending)


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
    # a client's own token (client_credentials) names the client as actor: no person to find
    people = await service_audit.actor_names(
        services, {e.actor for e in found.items if e.actor and e.actor != e.client_id})
    export = "/admin/audit.csv?" + urlencode({k: v for k, v in given.items() if v})
    locale = console.locale
    rows = [AuditRow(event, word(KINDS, event.kind, locale), word(OUTCOMES, event.outcome, locale),
                     people.get(event.actor or "", event.actor or ""),
                     detail_fields(event.detail, locale)) for event in found.items]
    return console.render("admin_audit.html", section="audit", rows=rows, filters=given,
                          choices={"kind": choices(KINDS, given["kind"], locale),
                                   "outcome": choices(OUTCOMES, given["outcome"], locale)},
                          names=names, page=page, export=export,
                          retention=await service_retention.overview(services),
                          links=page_links("/admin/audit", given, page, found.has_more))


def choices(table: dict[str, dict[Locale, str]], chosen: str, locale: Locale
            ) -> list[tuple[str, str]]:
    """(stored word, console word) of a filter's options, by console word; a value given in
    the address that the table does not know stays offered, so the filter shows what it does."""
    known = sorted(((value, word(table, value, locale)) for value in table),
                   key=lambda pair: pair[1])
    if chosen and chosen not in table:
        known.insert(0, (chosen, chosen))
    return known


@dataclass
class AuditRow:
    """One event as the console shows it: in its words, the actor by username."""

    event: AuditEvent
    kind: str
    outcome: str
    actor: str
    fields: list[tuple[str, str]]


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
