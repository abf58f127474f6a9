"""SSO sessions in the Store: one per browser login, naming every client it signed into.

The cookie holds only an opaque random id; everything else lives in the Store (Redis when
IDP_REDIS_URL is set), so every replica honours a session made on any other.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from idp.store.base import Store
from idp.store.records import record_json


@dataclass(slots=True)
class SsoSession:
    sid: str
    subject: str
    username: str
    auth_time: int  # seconds since the epoch of the last password (or MFA) check
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    acr: str | None = None
    created_at: int = 0
    ip: str | None = None
    user_agent: str | None = None
    # the subjects of the person's linked identities, `subject` first (identities.py); empty in
    # a session made before identities were linked: the entry signed in with alone
    identities: list[str] = field(default_factory=list)

    def age(self, now: int | None = None) -> int:
        return (now or int(time.time())) - self.auth_time


class SessionManager:
    """Create, read, extend and end SSO sessions. Keys:
    `sso:{sid}` the session JSON; `sso-clients:{sid}` set of client ids;
    `sso-user:{subject}` set of the person's sids (for "sign out everywhere" and admin listing).
    """

    def __init__(self, store: Store, ttl: int) -> None:
        self.store = store
        self.ttl = ttl

    async def create(
        self, *, subject: str, username: str, amr: list[str] | None = None, acr: str | None = None,
        ip: str | None = None, user_agent: str | None = None, replaces: str | None = None,
        identities: list[str] | None = None,
    ) -> SsoSession:
        """Start a session with a fresh id. `replaces` (the id from the old cookie) is ended, so a
        session id is never reused across a login (session fixation)."""
        if replaces:
            await self.end(replaces)
        now = int(time.time())
        session = SsoSession(
            sid=secrets.token_urlsafe(32), subject=subject, username=username, auth_time=now,
            amr=amr or ["pwd"], acr=acr, created_at=now, ip=ip, user_agent=user_agent,
            identities=identities or [subject],
        )
        # the session and its place among the person's sessions: one round trip
        await self.store.write_many([(f"sso:{session.sid}", record_json(session), self.ttl)],
                                    [(f"sso-user:{subject}", session.sid, self.ttl)])
        return session

    async def get(self, sid: str | None) -> SsoSession | None:
        if not sid or len(sid) > 128:
            return None
        raw = await self.store.get(f"sso:{sid}")
        if raw is None:
            return None
        return SsoSession(**json.loads(raw))

    async def time_left(self, sid: str) -> int | None:
        """Seconds the session has left, None when it has ended."""
        return await self.store.ttl(f"sso:{sid}")

    async def signed_in_again(self, sid: str, subject: str, auth_time: int) -> None:
        """The person of session `sid` has just proved their password again (changing it): the
        session's sign-in is now `auth_time`, for the time it has left."""
        session = await self.get(sid)
        left = await self.store.ttl(f"sso:{sid}")
        if session is None or session.subject != subject or not left:
            return
        session.auth_time = auth_time
        await self.store.put(f"sso:{sid}", record_json(session), left)

    async def add_client(self, sid: str, client_id: str, subject: str | None = None) -> None:
        """The session signed into the app; `subject`: as which of the person's identities
        (identities.py), for the app's logout notice. That record outlives the session's end
        (the notice is built after it) and goes with its TTL."""
        await self.store.write_many(*self.client_link(sid, client_id, subject))

    def client_link(self, sid: str, client_id: str, subject: str | None = None
                    ) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
        """What `add_client` writes, as (puts, set members) for `Store.write_many`: a protocol
        that writes its own item at the same moment (a code, a ticket) sends both at once."""
        puts = [(f"sso-as:{sid}:{client_id}", subject, self.ttl)] if subject is not None else []
        return puts, [(f"sso-clients:{sid}", client_id, self.ttl)]

    async def subject_for(self, session: SsoSession, client_id: str) -> str:
        """The subject the app knows this session's person by: the identity it was given."""
        if len(session.identities) <= 1:
            return session.subject
        return await self.store.get(f"sso-as:{session.sid}:{client_id}") or session.subject

    def holds(self, session: SsoSession, subject: object) -> bool:
        """Whether `subject` (an id_token_hint's sub) is one of the session's identities."""
        return isinstance(subject, str) and subject in (session.identities or [session.subject])

    async def clients(self, sid: str) -> set[str]:
        return await self.store.set_members(f"sso-clients:{sid}")

    async def of_subject(self, subject: str) -> list[SsoSession]:
        sessions = []
        for sid in await self.store.set_members(f"sso-user:{subject}"):
            session = await self.get(sid)
            if session is None:
                await self.store.set_remove(f"sso-user:{subject}", sid)
            else:
                sessions.append(session)
        return sorted(sessions, key=lambda s: s.created_at)

    async def end(self, sid: str) -> tuple[SsoSession | None, set[str]]:
        """End a session; returns it and the clients it had signed into (for back-channel logout)."""
        session = await self.get(sid)
        clients = await self.clients(sid)
        await self.store.delete(f"sso:{sid}", f"sso-clients:{sid}")
        if session is not None:
            await self.store.set_remove(f"sso-user:{session.subject}", sid)
        return session, clients
