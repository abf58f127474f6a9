"""A clock for KeyRing tests: retire_after, exp and iat checks without sleeping."""

from __future__ import annotations

START = 1_800_000_000.0


class ManualClock:
    """A wall clock that only moves when a test says so (retire_after, exp, iat checks)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
