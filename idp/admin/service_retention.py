"""What the console says about retention: how long each kind of record is kept (the settings,
idp/db/retention.py) and what the last purge removed (idp/db/purge.py records it in the Store,
so with Redis every replica's console shows the last purge of any of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from idp.db.purge import last_purge
from idp.db.retention import kinds

if TYPE_CHECKING:
    from idp.services import Services


@dataclass
class RetentionOverview:
    kept: list[tuple[str, int]]  # kind name -> days (0: forever)
    machine_tokens: str  # IDP_AUDIT_MACHINE_TOKENS
    interval: int  # seconds between purges
    last: dict[str, Any] | None  # the last purge's report, if one ran

    @property
    def last_removed(self) -> int:
        return sum((self.last or {}).get("removed", {}).values())


async def overview(services: Services) -> RetentionOverview:
    settings = services.settings
    try:
        last = await last_purge(services.store)
    except Exception:  # noqa: BLE001 - the Store away: the audit page still shows, without it
        last = None
    return RetentionOverview(
        kept=[(kind.name, kind.days) for kind in kinds(settings.retention)],
        machine_tokens=settings.audit_machine_tokens,
        interval=settings.retention.purge_interval, last=last)
