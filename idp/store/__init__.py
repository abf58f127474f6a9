"""Short-lived state: SSO sessions, codes, throttles, nonces. Redis, or in-process by default."""

from idp.store.base import Store, StoreUnavailable
from idp.store.factory import open_store

__all__ = ["Store", "StoreUnavailable", "open_store"]
