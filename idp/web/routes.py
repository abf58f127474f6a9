"""The interaction UI's routes: login, consent, logout, and the stylesheet they share."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response

from idp.http.routing import Router
from idp.web.account import router as account_router
from idp.web.account_bindings import router as account_bindings_router
from idp.web.account_identities import router as account_identities_router
from idp.web.account_mfa import router as account_mfa_router
from idp.web.account_password import router as account_password_router
from idp.web.account_reset import router as account_reset_router
from idp.web.account_step_up import router as account_step_up_router
from idp.web.activate import router as activate_router
from idp.web.consent import router as consent_router
from idp.web.identity import router as identity_router
from idp.web.login import router as login_router
from idp.web.logout_pages import router as logout_router
from idp.web.mfa import router as mfa_router
from idp.web.password import router as password_router
from idp.web.upstream import router as upstream_router

STATIC_DIR = Path(__file__).parent / "static"
# a fixed list, so no request path ever reaches the file system
STATIC_FILES = {"site.css": "text/css; charset=utf-8",
                "webauthn.js": "text/javascript; charset=utf-8"}

router = Router(audience="page", tags=["web"])
router.include_router(login_router)
router.include_router(consent_router)
router.include_router(identity_router)
router.include_router(logout_router)
router.include_router(mfa_router)
router.include_router(account_router)
router.include_router(account_identities_router)
router.include_router(account_bindings_router)
router.include_router(account_password_router)
router.include_router(account_mfa_router)
router.include_router(account_reset_router)
router.include_router(account_step_up_router)
router.include_router(password_router)
router.include_router(upstream_router)
router.include_router(activate_router)


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(STATIC_DIR / name, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=3600"})
