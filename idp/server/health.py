"""What operators and load balancers call: liveness, readiness and the Prometheus metrics
(idp/monitoring/metrics.py).

Readiness has three answers. "ok" (200): the directory, Store and database all answer.
"degraded" (200, still ready): the LDAP directory is unreachable but its last-known people are
being served (directory/last_known.py): people signed in keep working, so a load balancer must
keep sending them here. Every replica shares the same directory, so answering 503 would take
every replica out of service at once and turn a degraded service into no service. Alert on the
"status" field or on the idp_directory_degraded metric instead. "down" (503, not ready): the
Store or the database is away, or the directory is and nothing can stand in for it. "draining"
(503): the replica was asked to stop and is leaving the rotation (idp/server/draining.py)."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from directory.base import DirectoryUnavailable
from idp.http.routing import Router
from idp.server.draining import draining
from idp.services import ServicesDep

router = Router(audience="api", tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    if draining.is_set():
        return JSONResponse({"ready": False, "status": "draining", "checks": {}}, status_code=503)
    checks: dict[str, str] = {}
    try:
        await services.store.ping()
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports every failure
        checks["store"] = f"error: {exc}"
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"error: {type(exc).__name__}"
    degraded = False
    try:
        await services.directory.check()
        checks["directory"] = "ok"
    except DirectoryUnavailable as exc:
        fallback = getattr(services.directory, "fallback", None)
        degraded = fallback is not None
        checks["directory"] = f"degraded: {exc}; {fallback()}" if fallback else f"error: {exc}"
    except Exception as exc:  # noqa: BLE001
        checks["directory"] = f"error: {exc}"
    failed = [name for name, verdict in checks.items() if verdict.startswith("error")]
    status = "down" if failed else "degraded" if degraded else "ok"
    return JSONResponse({"ready": not failed, "status": status, "checks": checks},
                        status_code=503 if failed else 200)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus text exposition. Keep it off the public proxy; scrape each replica."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

