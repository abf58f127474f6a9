"""The admin REST API under /admin/api (issue 7 part 3), one router for the app to include:

    from idp.admin.api import router as admin_api_router
    app.include_router(admin_api_router)

Every route needs a Bearer access token issued by this campus-idp with the scope `idp:admin`,
for a member of the admin group (idp/admin/auth.py). The routes are thin: each calls the
service layer (idp/admin/service_*.py) that the console and the CLI share.
"""

from __future__ import annotations

from idp.admin.api_audit import router as audit_router
from idp.admin.api_bindings import router as bindings_router
from idp.admin.api_clients import router as clients_router
from idp.admin.api_imports import router as imports_router
from idp.admin.api_people import router as people_router
from idp.admin.api_releases import router as releases_router
from idp.admin.api_sessions import router as sessions_router
from idp.http.routing import Router

router = Router(audience="api", prefix="/admin/api")
router.include_router(people_router)
router.include_router(sessions_router)
router.include_router(clients_router)
router.include_router(audit_router)
router.include_router(imports_router)
router.include_router(bindings_router)
router.include_router(releases_router)
