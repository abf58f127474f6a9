"""/admin/api/audit: search the audit log, export it as CSV; /admin/api/stats: the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from fastapi.responses import StreamingResponse

from idp.admin import service_audit
from idp.admin.api_common import ERRORS, AdminApiRoute, AdminDep
from idp.admin.api_models import AuditPageOut, DashboardOut, StatsOut
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="api", route_class=AdminApiRoute, responses=ERRORS, tags=["admin: audit"])

Text = Annotated[str | None, Query(max_length=200)]
Moment = Annotated[datetime | None, Query(description="ISO 8601; without an offset it is UTC")]


def _filter(kind: str | None, outcome: str | None, actor: str | None, client_id: str | None,
            since: datetime | None, until: datetime | None) -> service_audit.AuditFilter:
    return service_audit.AuditFilter(kind=kind, outcome=outcome, actor=actor, client_id=client_id,
                                     since=since, until=until).checked()


@router.get("/audit", response_model=AuditPageOut)
async def search_audit(
    services: ServicesDep, admin: AdminDep, kind: Text = None, outcome: Text = None,
    actor: Text = None, client_id: Text = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=service_audit.MAX_PAGE_SIZE)] = 50,
) -> AuditPageOut:
    """Newest first. kind: login, token, authorize, logout, consent, admin, developer, …;
    outcome: success or the failure kind (invalid_credentials, account_locked, …)."""
    where = _filter(kind, outcome, actor, client_id, since, until)
    return AuditPageOut.of(await service_audit.search(services, where, page, size))


@router.get("/audit.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "the matching events"}})
async def export_audit(
    services: ServicesDep, admin: AdminDep, kind: Text = None, outcome: Text = None,
    actor: Text = None, client_id: Text = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> StreamingResponse:
    """The same filters, every match, as CSV (columns: id, at, kind, outcome, actor,
    client_id, ip, detail as JSON), streamed."""
    where = _filter(kind, outcome, actor, client_id, since, until)
    await services.audit.record("admin", "success", actor=admin.person.username,
                                client_id=admin.client_id, action="export_audit", via="api")
    return StreamingResponse(await service_audit.export_csv(services, where),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="audit.csv"'})


@router.get("/stats/sign-ins", response_model=StatsOut)
async def sign_in_stats(services: ServicesDep, admin: AdminDep,
                        hours: Annotated[int, Query(ge=1, le=service_audit.MAX_STATS_HOURS)] = 24
                        ) -> StatsOut:
    """Sign-ins into each app per hour (authorization codes redeemed), for the dashboard."""
    return StatsOut.of(await service_audit.sign_ins_per_hour(services, hours))


@router.get("/stats/dashboard", response_model=DashboardOut)
async def dashboard_stats(services: ServicesDep, admin: AdminDep,
                          hours: Annotated[int, Query(ge=1, le=service_audit.MAX_STATS_HOURS)] = 24
                          ) -> DashboardOut:
    """Everything the console's dashboard draws, as figures."""
    return DashboardOut.of(await service_audit.dashboard(services, hours))
