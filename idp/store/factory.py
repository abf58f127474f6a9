from __future__ import annotations

from idp.settings import Settings
from idp.store.base import Store


def open_store(settings: Settings) -> Store:
    """Redis when IDP_REDIS_URL is set, otherwise the embedded in-process store."""
    if settings.redis_url:
        from idp.store.redis import RedisStore

        return RedisStore(settings.redis_url, prefix=settings.redis_prefix)
    from idp.store.memory import MemoryStore

    return MemoryStore()
