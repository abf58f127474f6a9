"""Single logout: ending an SSO session everywhere at once.

`SingleLogout.end` ends the session in the Store, audits it, and hands the session and the apps
it signed into to every protocol's notifier (OIDC: back-channel logout tokens,
idp/protocols/oidc/backchannel.py); each notifier tells the apps it knows in its own way. The
caller (a browser waiting for its "signed out" page, an admin ending a session) waits at most
`wait` seconds for the notifications; slower ones finish in the background.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from idp.db.audit import Audit
from idp.sso.sessions import SessionManager, SsoSession

log = logging.getLogger("idp.logout")

BROWSER_WAIT = 3.0  # seconds a browser's logout waits for the notifications before answering

_background: set[asyncio.Task[Any]] = set()  # keeps unfinished notifications from being collected


class LogoutNotifier(Protocol):
    """One protocol's way of telling its apps that a session ended."""

    async def notify(self, session: SsoSession, apps: set[str]) -> dict[str, str]:
        """Tell the apps among `apps` that this protocol signed in; return app -> "delivered" or
        "failed" for each one told (apps it does not know are left out)."""
        ...


@dataclass
class LogoutResult:
    session: SsoSession | None
    clients: set[str] = field(default_factory=set)  # the apps the session had signed into
    # app -> "delivered" / "failed"; apps still being notified are absent
    deliveries: dict[str, str] = field(default_factory=dict)


class SingleLogout:
    def __init__(self, sessions: SessionManager, audit: Audit) -> None:
        self.sessions = sessions
        self.audit = audit
        self.notifiers: list[LogoutNotifier] = []

    def add_notifier(self, notifier: LogoutNotifier) -> None:
        self.notifiers.append(notifier)

    async def end(self, sid: str, *, reason: str, wait: float | None = BROWSER_WAIT
                  ) -> LogoutResult:
        """End session `sid` and notify its apps. `wait=None` waits for every notification."""
        session, apps = await self.sessions.end(sid)
        result = LogoutResult(session=session, clients=apps)
        if session is None:
            return result
        await self.audit.record("logout", "success", actor=session.username, reason=reason,
                                subject=session.subject, clients=sorted(apps))
        if not apps or not self.notifiers:
            return result
        task = asyncio.get_running_loop().create_task(self._notify_all(session, apps))
        _background.add(task)
        task.add_done_callback(_background.discard)
        try:
            # shield: a browser that stops waiting must not cancel the notifications
            result.deliveries = await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            log.info("logout of %s: notifications continue in the background", session.username)
        return result

    async def _notify_all(self, session: SsoSession, apps: set[str]) -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for told in await asyncio.gather(*(n.notify(session, apps) for n in self.notifiers)):
            outcomes.update(told)
        return outcomes
