"""Imports started from the console (or the API) run as background tasks; their progress lives
in the Store, so any replica can show it (the page polls with a meta refresh, no JavaScript).

The result file (with any one-time passwords) is kept an hour for the admin who started the
import, and can be downloaded once (an atomic take): it never stays around in the Store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from idp.admin.service_common import Actor
from idp.admin.service_import import ImportResult, ImportTarget, run_import
from idp.admin.service_import_rows import ImportPlan

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger("idp.admin.import")

JOB_TTL = 24 * 3600
RESULT_TTL = 3600
_running: set[asyncio.Task[Any]] = set()  # keeps running imports from being collected


def _job_key(job_id: str) -> str:
    return f"admin-import:{job_id}"


def _result_key(job_id: str) -> str:
    return f"admin-import-result:{job_id}"


async def _save(services: Services, state: dict[str, Any]) -> None:
    state["updated_at"] = int(time.time())
    await services.store.put(_job_key(state["id"]), json.dumps(state), JOB_TTL)


async def start_job(services: Services, actor: Actor, plan: ImportPlan, filename: str) -> str:
    """Start importing a checked plan; returns the job id at once."""
    job_id = secrets.token_urlsafe(12)
    state: dict[str, Any] = {
        "id": job_id, "state": "running", "filename": filename[:200], "by": actor.username,
        "total": len(plan.rows), "done": 0, "created": 0, "updated": 0, "unchanged": 0,
        "failure": None, "started_at": int(time.time()), "passwords": 0, "to_activate": 0,
    }
    await _save(services, state)
    step = max(1, len(plan.rows) // 100)

    async def progress(result: ImportResult) -> None:
        if result.done % step == 0:
            state.update(result.summary())
            await _save(services, state)

    async def work() -> None:
        try:
            result = await run_import(ImportTarget.of(services), plan, actor, progress=progress,
                                      filename=filename)
            await services.store.put(_result_key(job_id), result.result_csv(), RESULT_TTL)
            state.update(result.summary(), passwords=len(result.passwords),
                         state="failed" if result.failure else "done")
        except Exception as exc:  # noqa: BLE001 - the page must say it stopped, whatever happened
            log.exception("import %s failed", job_id)
            state.update(state="failed", failure=f"{type(exc).__name__}: {exc}"[:500])
        await _save(services, state)

    task = asyncio.get_running_loop().create_task(work())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return job_id


async def job_state(services: Services, job_id: str) -> dict[str, Any] | None:
    if not job_id or len(job_id) > 32:
        return None
    raw = await services.store.get(_job_key(job_id))
    return json.loads(raw) if raw else None


async def take_result(services: Services, job_id: str, username: str) -> str | None:
    """The result CSV, once, for the admin who started the import."""
    state = await job_state(services, job_id)
    if state is None or state.get("by") != username or state["state"] == "running":
        return None
    return await services.store.take(_result_key(job_id))
