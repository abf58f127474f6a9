"""The interaction UI's routes: login, consent, logout, and the stylesheet they share."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from idp.web.consent import router as consent_router
from idp.web.login import router as login_router
from idp.web.logout_pages import router as logout_router

STATIC_DIR = Path(__file__).parent / "static"
# a fixed list, so no request path ever reaches the file system
STATIC_FILES = {"site.css": "text/css; charset=utf-8"}

router = APIRouter(tags=["web"])
router.include_router(login_router)
router.include_router(consent_router)
router.include_router(logout_router)


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(STATIC_DIR / name, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=3600"})
