"""What operators and load balancers call: liveness, readiness (ready only when the directory,
Store and database answer) and the Prometheus metrics (idp/monitoring/metrics.py)."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="api", tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
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
    try:
        await services.directory.check()
        checks["directory"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["directory"] = f"error: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus text exposition. Keep it off the public proxy; scrape each replica."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

