"""A paused authorization request, waiting for the person to log in or consent.

As in node-oidc-provider, the protocol engine keeps the request in the Store under a random id
and hands the browser to the UI (web/); the UI finishes the interaction and sends the browser back
to `/authorize/resume/{id}`, where the engine picks the request up again. The UI never sees or
builds protocol responses.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from idp.store.base import Store

INTERACTION_TTL = 15 * 60


@dataclass(slots=True)
class Interaction:
    id: str
    prompt: Literal["login", "consent"]
    params: dict[str, str]  # the original authorization request parameters
    client_id: str
    client_name: str
    scopes: list[str]  # scopes that need the person's consent
    login_hint: str | None = None
    ui_locales: str | None = None
    reason: str | None = None  # why a login is needed: no_session, prompt_login, max_age, ...
    # filled in by the UI:
    sid: str | None = None  # the SSO session the login created or confirmed
    granted_scopes: list[str] | None = None
    denied: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Interactions:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def start(self, **fields: Any) -> Interaction:
        interaction = Interaction(id=secrets.token_urlsafe(24), **fields)
        await self.save(interaction)
        return interaction

    async def save(self, interaction: Interaction) -> None:
        key = f"interaction:{interaction.id}"
        await self.store.put(key, json.dumps(asdict(interaction)), INTERACTION_TTL)

    async def get(self, interaction_id: str | None) -> Interaction | None:
        if not interaction_id or len(interaction_id) > 64:
            return None
        raw = await self.store.get(f"interaction:{interaction_id}")
        return Interaction(**json.loads(raw)) if raw else None

    async def finish(self, interaction_id: str) -> Interaction | None:
        """Take it out of the Store (single use) when the engine resumes it."""
        raw = await self.store.take(f"interaction:{interaction_id}")
        return Interaction(**json.loads(raw)) if raw else None
