"""The app access token that WeCom's and DingTalk's server APIs want (`gettoken`): valid two
hours, rate-limited at the provider, so it is kept until shortly before it expires and fetched
again when the provider says it is no longer valid."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

MARGIN = 300  # seconds before its announced expiry a token is replaced


class AppToken:
    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, int]]]) -> None:
        self._fetch = fetch  # -> (token, seconds it lives)
        self._token: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def get(self, *, renew: bool = False) -> str:
        async with self._lock:
            if renew or self._token is None or time.monotonic() >= self._until:
                token, lifetime = await self._fetch()
                self._token, self._until = token, time.monotonic() + max(lifetime - MARGIN, 60)
            return self._token
