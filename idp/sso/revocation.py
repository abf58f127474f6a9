"""Ending everything a person holds, at once and on every replica: after a password reset, a
password change, or when an admin disables the account.

`PersonRevocation.revoke(subject, ...)` does four things, in this order:

1. It leaves a mark on the revoked list (idp/sso/revoked.py: the shared Store, and a copy in
   every process), `revoked-subject:{subject}` = S, the second it happened:
   everything that came from a sign-in of the person made up to second S is revoked. Every
   replica checks what a protocol issued against the mark where it is used (OIDC: an access
   token's `auth_time` at /introspect, /userinfo and the admin API), so it stops at once: no
   replica's person cache (directory/person_cache.py) has to expire first. A token or code
   issued *after* S from such a sign-in (a code taken out before, redeemed now) still carries
   the old sign-in's time, and is dead on arrival. The mark lives as long as the longest-lived
   of those things (`GrantRevoker.mark_seconds`).
2. Every protocol revokes what it keeps durably for the person (OIDC: refresh-token families).
3. The person's SSO sessions end through single logout, which tells the apps (back-channel
   logout). One session may be kept (`keep`: the browser that has just changed its own
   password, entering the current one): it counts as signed in again after S, so what it is
   issued from now on is valid.
4. It returns only once second S is over: a sign-in made after `revoke` returns (a login right
   after a reset) is of a later second and is not covered.

The mark holds whole seconds because tokens do (JWT `auth_time`, `iat`); the wait in 4 is what
keeps a whole second from covering what comes after the revocation.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

from idp.db.audit import Audit
from idp.sso.logout import BROWSER_WAIT, SingleLogout
from idp.sso.revoked import RevokedList
from idp.sso.sessions import SessionManager

MARK_PREFIX = "revoked-subject:"
MARK_SLACK = 120  # seconds the mark outlives what it covers: clock differences, verify leeway


def mark_key(subject: str) -> str:
    return MARK_PREFIX + subject


def covered_by_mark(signed_in_at: float, mark: str | None) -> bool:
    """Was something that came from a sign-in at `signed_in_at` (seconds since the epoch)
    revoked by the mark the Store holds for its person (`None`: there is none)?"""
    if mark is None:
        return False
    try:
        return signed_in_at <= int(mark)
    except ValueError:
        return True  # a mark nobody can read still says "revoked": refuse rather than honour


class GrantRevoker(Protocol):
    """One protocol's part of a revocation."""

    @property
    def mark_seconds(self) -> int:
        """How long something this protocol checks against the mark can stay valid after it
        was issued (OIDC: the access token lifetime)."""
        ...

    async def revoke_person(self, subject: str) -> int:
        """Revoke the durable grants this protocol keeps for the person; how many it revoked."""
        ...


@dataclass
class Revoked:
    mark: int  # the second up to which everything issued to the person is revoked
    grants: int  # durable grants the protocols revoked (OIDC: refresh tokens)
    sessions: list[str]  # the SSO sessions ended


class PersonRevocation:
    def __init__(self, revoked: RevokedList, sessions: SessionManager, logout: SingleLogout,
                 audit: Audit) -> None:
        self.revoked = revoked
        self.sessions = sessions
        self.logout = logout
        self.audit = audit
        self.revokers: list[GrantRevoker] = []

    def add_revoker(self, revoker: GrantRevoker) -> None:
        self.revokers.append(revoker)

    def mark_ttl(self) -> int:
        return max((r.mark_seconds for r in self.revokers), default=0) + MARK_SLACK

    async def revoke(self, subject: str, *, reason: str, actor: str | None = None,
                     keep: str | None = None, wait: float | None = BROWSER_WAIT) -> Revoked:
        """Revoke everything issued to `subject` and end their sessions except `keep`. `wait`:
        how long to wait for the apps to hear of each logout (idp/sso/logout.py)."""
        mark = int(time.time())
        await self.revoked.put(mark_key(subject), str(mark), self.mark_ttl())
        grants = 0
        for revoker in self.revokers:
            grants += await revoker.revoke_person(subject)
        ending = [session.sid for session in await self.sessions.of_subject(subject)
                  if session.sid != keep]
        # concurrently: each waits up to `wait` for its apps, and they do not wait in turn
        await asyncio.gather(*(self.logout.end(sid, reason=reason, wait=wait) for sid in ending))
        await self.audit.record("revocation", "success", actor=actor, subject=subject,
                                reason=reason, grants=grants, sessions=len(ending),
                                kept_session=keep is not None)
        left = mark + 1 - time.time()
        if left > 0:
            await asyncio.sleep(left)
        if keep is not None:
            await self.sessions.signed_in_again(keep, subject, mark + 1)
        return Revoked(mark=mark, grants=grants, sessions=ending)
