"""The admin console (web, server-rendered, zh + en) under /admin, for members of the admin
group, over the same service layer as the REST API. One router for the app to include:

    from idp.admin.console import router as admin_console_router
    app.include_router(admin_console_router)

The page behind the one-time password reset links it hands out is the account page's
(/account/reset/{token}, idp/web/account_reset.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse
from starlette.responses import Response

from idp.admin.auth import CONSOLE
from idp.admin.console_audit import router as audit_router
from idp.admin.console_clients import router as clients_router
from idp.admin.console_import import router as import_router
from idp.admin.console_people import router as people_router
from idp.admin.console_releases import router as releases_router
from idp.admin.console_render import CONSOLE_CSS, ConsoleRoute
from idp.http.routing import Router
from idp.services import ServicesDep
from idp.web.login_area import finish_login, start_login

router = Router(audience="page", include_in_schema=False, route_class=ConsoleRoute)

STATIC_DIR = Path(__file__).parent / "static"
JS = "text/javascript; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
# Apache ECharts, vendored (static/echarts/VERSION says which release and how to upgrade it)
STATIC_FILES = {
    "echarts.min.js": ("echarts/echarts.min.js", JS),
    "console-charts.js": ("console-charts.js", JS),
    "echarts-LICENSE.txt": ("echarts/LICENSE", TEXT),
    "echarts-NOTICE.txt": ("echarts/NOTICE", TEXT),
}


@router.get("/admin/static/admin.css")
async def stylesheet() -> Response:
    return Response(CONSOLE_CSS, media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600"})


@router.get("/admin/static/{name}")
async def static_file(name: str) -> Response:
    """The dashboard's scripts and the chart library's licence, from a fixed list (no request
    path ever reaches the file system)."""
    known = STATIC_FILES.get(name)
    if known is None:
        return Response("not found", status_code=404, media_type="text/plain")
    path, media_type = known
    return FileResponse(STATIC_DIR / path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/admin/login")
async def login(request: Request, services: ServicesDep) -> Response:
    return await start_login(request, services, CONSOLE, request.query_params.get("next"))


@router.get("/admin/callback")
async def callback(request: Request, services: ServicesDep) -> Response:
    return await finish_login(request, services, CONSOLE)


router.include_router(audit_router)
router.include_router(people_router)
router.include_router(clients_router)
router.include_router(import_router)
router.include_router(releases_router)
