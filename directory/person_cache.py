"""A short-lived, bounded, per-process memory of people by subject, for the token hot path.

Every userinfo, refresh and code redemption needs the person behind the grant. Asking LDAP each
time costs a search plus a group lookup on the directory's thread pool; a person barely changes
from one second to the next. So `LdapDirectory.by_subject` keeps the answer for a few seconds:

- only found people are kept: "no such subject" and directory errors are asked again next time;
- concurrent misses for one subject share one search (single flight), so a burst of refreshes
  for a person does not stampede the directory;
- `forget(subject)` drops a person at once. The admin writer calls it after every change it makes,
  so a person disabled on this process is refused here on the next request. Other processes see
  the change when their copy expires: that is the trade-off the TTL setting documents.

Lookups may come from any event loop or thread (the admin writer forgets from the LDAP thread
pool), hence a plain lock and `concurrent.futures` futures rather than asyncio ones. `Person` is a
frozen dataclass of strings and tuples, so every caller may share the same object.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from directory.base import Person

# about a campus's worth of people active at once; each entry is a few hundred bytes
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Kept:
    person: Person
    expires: float


class PersonCache:
    """People by subject for `ttl` seconds, at most `max_entries` (least recently used go first)."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ValueError("a person cache needs a positive TTL")
        self.ttl = ttl
        self.max_entries = max(1, max_entries)
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        # the search in progress per subject; landing stores its answer only while it is still
        # the one listed here, so a forget() during the search also discards what it will return
        self._flights: dict[str, Future[Person | None]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    async def get(self, subject: str,
                  search: Callable[[str], Future[Person | None]]) -> Person | None:
        """The kept person, else the answer of the search in flight, else of a new `search`."""
        with self._lock:
            kept = self._kept.get(subject)
            if kept is not None:
                if kept.expires > self._clock():
                    self._kept.move_to_end(subject)
                    return kept.person
                del self._kept[subject]
            flight = self._flights.get(subject)
            started = flight is None
            if flight is None:
                flight = search(subject)
                self._flights[subject] = flight
        if started:
            # outside the lock: a search already done runs the callback here, at once
            flight.add_done_callback(lambda done: self._land(subject, done))
        # shielded: one caller giving up (a client that hung up) must not cancel the search
        # the other callers are waiting on
        return await asyncio.shield(asyncio.wrap_future(flight))

    def _land(self, subject: str, flight: Future[Person | None]) -> None:
        with self._lock:
            if self._flights.get(subject) is not flight:
                return  # forgotten while searching: the answer may predate a write
            del self._flights[subject]
            if flight.cancelled() or flight.exception() is not None:
                return  # errors are never kept: the next request asks again
            person = flight.result()
            if person is None:
                return  # nor is "no such subject": a person just created must be found
            self._kept[subject] = _Kept(person, self._clock() + self.ttl)
            self._kept.move_to_end(subject)
            while len(self._kept) > self.max_entries:
                self._kept.popitem(last=False)

    def forget(self, subject: str) -> None:
        """Drop the person, and make a search in flight for them land nowhere."""
        with self._lock:
            self._kept.pop(subject, None)
            self._flights.pop(subject, None)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._flights.clear()
