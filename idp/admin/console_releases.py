"""Console page: the attribute-release record (which claims went to which app for which person,
per day), with filters, pages and CSV export; linked from each person's page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from idp.admin import service_releases
from idp.admin.console_i18n import CONSOLE_CATALOGUE
from idp.admin.console_render import ConsoleRoute, open_console, page_links
from idp.admin.service_common import Invalid, record
from idp.http.routing import Router
from idp.services import ServicesDep
from idp.web.catalogue import register_catalogue
from idp.web.claim_labels import claim_label
from idp.web.i18n import Locale

router = Router(audience="page", route_class=ConsoleRoute)
FILTERS = ("person", "subject", "client_id", "from", "to")
PAGE_SIZE = 100

RELEASES_TEXT: dict[str, dict[Locale, str]] = {
    "a_nav_releases": {"zh": "信息发放记录", "en": "Released information"},
    "r_intro": {"zh": "每行：某人、某应用、某天获取的一组信息项（只记名称），当天首次与最近一次的"
                      "时间及次数。时间为 UTC。",
                "en": "Each row: the information items (names only) one app received about one "
                      "person on one day, the first and the last time that day, and how often. "
                      "Times are UTC."},
    "r_person": {"zh": "用户名", "en": "Username"},
    "r_subject": {"zh": "subject", "en": "Subject"},
    "r_day": {"zh": "日期", "en": "Day"},
    "r_claims": {"zh": "信息项", "en": "Information"},
    "r_first": {"zh": "首次", "en": "First"},
    "r_last": {"zh": "最近", "en": "Last"},
    "r_count": {"zh": "次数", "en": "Count"},
    "r_of_person": {"zh": "信息发放记录", "en": "Released information"},
}
register_catalogue(CONSOLE_CATALOGUE, RELEASES_TEXT, source="console_releases")


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(int(value or default), high))
    except ValueError:
        return default


def _day(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value!r} is not a day (YYYY-MM-DD)") from None


def _filters(request: Request) -> tuple[dict[str, str], service_releases.ReleaseQuery]:
    given = {name: request.query_params.get(name, "")[:200] for name in FILTERS}
    query = service_releases.ReleaseQuery(
        person=given["person"] or None, subject=given["subject"] or None,
        client_id=given["client_id"] or None, since=_day(given["from"]), until=_day(given["to"]))
    return given, query


@router.get("/admin/releases")
async def releases(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    given, query = _filters(request)
    page = _int(request.query_params.get("page"), 1, 1, 100_000)
    found = await service_releases.search(services, query, page, PAGE_SIZE)
    rows = [{"release": r, "claims": [(name, claim_label(name, console.locale))
                                      for name in r.claims]} for r in found.items]
    export = "/admin/releases.csv?" + urlencode({k: v for k, v in given.items() if v})
    return console.render("admin_releases.html", section="releases", rows=rows, filters=given,
                          page=page, export=export,
                          links=page_links("/admin/releases", given, page, found.has_more))


@router.get("/admin/releases.csv")
async def releases_csv(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    given, query = _filters(request)
    lines = await service_releases.export_csv(services, query)
    await record(services, console.actor, "export_releases",
                 **{k: v for k, v in given.items() if v})
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        lines, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="releases-{stamp}.csv"',
                 "Cache-Control": "no-store"})
