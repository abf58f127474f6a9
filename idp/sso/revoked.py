"""The revoked list, read in memory: every token check asks it (is this access token's id
revoked? is there a mark for its person, idp/sso/revocation.py?), and with a shared Store that
would be a Redis round trip per /introspect and /userinfo.

Each process keeps a copy of the list's keys (`revoked-jti:…`, `revoked-subject:…`) kept current
by following the Store's change log (`Store.put_logged`, a Redis stream): every revocation, made
by any replica or by the `idp` command, is written and appended to the log in one atomic step,
and each process's follower reads the log as it grows (a blocking read, so a revocation reaches
every replica within the time Redis takes to hand it over, milliseconds). A stream rather than
plain pub/sub: a follower that lost its connection reads what it missed from where it stopped,
and one that finds entries gone (the log trimmed, or a Redis that restarted empty) reads the
keys afresh. A process asks Redis itself, one round trip per check as before, whenever its copy
cannot be trusted: before the first read, while the Store is unreachable, and when the follower
has not heard from the log for longer than it should. The revoking process applies its own
change at once, before it answers.

Revocations only ever get stricter (a jti is listed or not; a person's mark moves forward), so
applying an entry twice, or an older one after a newer, never loosens the copy: a mark keeps
the larger second. With the in-process Store there is nothing to copy: it is the list.
"""

from __future__ import annotations

import asyncio
import logging
import time

from idp.store.background import cancelled_meanwhile, stop
from idp.store.base import LogGap, Store, StoreUnavailable

log = logging.getLogger("idp.revocation")

PREFIXES = ("revoked-jti:", "revoked-subject:")
WAIT = 2.0  # seconds one read of the log waits for an entry
STALE = WAIT + 3.0  # no word from the log for this long: the copy is not trusted
RETRY = 1.0  # seconds between attempts while the Store is unreachable
SWEEP_EVERY = 60.0  # seconds between clean-ups of expired entries


class RevokedList:
    def __init__(self, store: Store, *, stale: float = STALE) -> None:
        self.store = store
        self.stale = stale
        self._copy: dict[str, tuple[str, float]] = {}  # key -> (value, expires at: epoch s)
        self._heard = float("-inf")  # monotonic time of the last word from the log
        self._follower: asyncio.Task[None] | None = None
        # whether this process reads a copy (a shared Store) rather than the Store itself: read
        # once, not through the Store's wrappers on every token check
        self.mirrored: bool = store.shared

    def current(self) -> bool:
        """The copy may answer: the follower heard from the log just now."""
        return time.monotonic() - self._heard < self.stale

    async def put(self, key: str, value: str, ttl: int) -> None:
        """List `key` (one of PREFIXES) for `ttl` seconds, on every replica."""
        if not key.startswith(PREFIXES):
            raise ValueError(f"not a key of the revoked list: {key}")
        await self.store.put_logged(key, value, ttl)
        self._apply(key, value, ttl)

    async def get_many(self, *keys: str) -> list[str | None]:
        """The value of each key (None where it is not listed): from the copy when it is
        current, else from the Store in one round trip."""
        if self.mirrored and self.current():
            now = time.time()
            found: list[str | None] = []
            for key in keys:
                entry = self._copy.get(key)
                found.append(entry[0] if entry is not None and entry[1] > now else None)
            return found
        return await self.store.get_many(*keys)

    def start(self) -> bool:
        """Follow the log (a shared Store only); True when this call started the follower."""
        if not self.mirrored or self._follower is not None:
            return False
        self._follower = asyncio.create_task(self._follow(), name="revoked-list")
        return True

    async def close(self) -> None:
        follower, self._follower = self._follower, None
        await stop(follower)
        self._heard = float("-inf")

    # --- the follower -------------------------------------------------------------------------

    async def _follow(self) -> None:
        position: str | None = None
        swept = time.monotonic()
        while not cancelled_meanwhile():
            try:
                if position is None:
                    position = await self._read_afresh()
                entries, position = await self.store.read_log(position, WAIT)
                for key, value, ttl in entries:
                    if key.startswith(PREFIXES):
                        self._apply(key, value, ttl)
                self._heard = time.monotonic()
                if self._heard - swept > SWEEP_EVERY:
                    self._sweep()
                    swept = self._heard
            except LogGap as gap:
                log.warning("revoked list: %s; reading it afresh", gap)
                position = None
            except StoreUnavailable as exc:
                # the copy goes stale by itself (STALE); checks ask the Store, which answers 503
                # while it is away. The log is read on from where it stopped
                log.warning("revoked list: the Store is unreachable (%s)", exc)
                await asyncio.sleep(RETRY)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("revoked list: following the change log failed")
                position = None
                await asyncio.sleep(RETRY)

    async def _read_afresh(self) -> str:
        """The whole list from the Store, and the log position it is current as of. The
        position is taken first: entries after it are read again, which changes nothing."""
        position = await self.store.log_position()
        fresh: dict[str, tuple[str, float]] = {}
        now = time.time()
        for prefix in PREFIXES:
            for key, (value, left) in (await self.store.snapshot(prefix)).items():
                fresh[key] = (value, now + left)
        self._copy = fresh
        return position

    def _apply(self, key: str, value: str, ttl: int) -> None:
        expires = time.time() + ttl
        held = self._copy.get(key)
        if held is not None:
            value = _stricter(held[0], value)
            expires = max(expires, held[1])
        self._copy[key] = (value, expires)

    def _sweep(self) -> None:
        now = time.time()
        for key in [k for k, (_, expires) in self._copy.items() if expires <= now]:
            del self._copy[key]


def _stricter(held: str, new: str) -> str:
    """Of two values of one key, the one that revokes more: a mark's later second."""
    if held.isdigit() and new.isdigit():
        return held if int(held) >= int(new) else new
    return new
