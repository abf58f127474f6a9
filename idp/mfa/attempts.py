"""Wrong second-factor answers (and wrong current passwords on the account page), counted per
person in the Store.

Six digits with one step of drift leave 3 in a million for each guess; a few guesses per
quarter hour keep that out of reach. The counter is per person (not per login attempt), so
starting new logins does not reset it, and the password alone is never enough to burn through it.
"""

from __future__ import annotations

import hashlib

from idp.store.base import Store

WINDOW = 15 * 60  # seconds, from the first failure


def _key(kind: str, subject: str) -> str:
    return f"throttle:{kind}:" + hashlib.sha256(subject.encode("utf-8")).hexdigest()


async def blocked(store: Store, subject: str, limit: int, kind: str = "mfa") -> bool:
    return int(await store.get(_key(kind, subject)) or 0) >= limit


async def failed(store: Store, subject: str, kind: str = "mfa") -> int:
    return await store.incr(_key(kind, subject), WINDOW)


async def succeeded(store: Store, subject: str, kind: str = "mfa") -> None:
    await store.delete(_key(kind, subject))
