"""Failed-login throttle, checked in the Store before the directory is asked.

Every failed bind counts toward the directory's own lockout (LDAP-PITFALLS 10), so the IdP must
refuse first, below the directory's threshold, or an attacker could lock real accounts by
guessing. Counters are kept per typed username (normalised, case-folded, hashed: whether the
account exists plays no part, so the refusal reveals nothing) and per client IP.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from directory.base import normalize_username
from idp.store.base import Store


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    per_account: int = 5
    per_ip: int = 30
    window: int = 15 * 60  # seconds; the window starts with the first failure

    @staticmethod
    def account_key(username: str) -> str:
        folded = normalize_username(username).casefold()
        return "throttle:login:user:" + hashlib.sha256(folded.encode()).hexdigest()

    @staticmethod
    def ip_key(ip: str) -> str:
        return f"throttle:login:ip:{ip}"

    async def blocked(self, store: Store, username: str, ip: str) -> bool:
        """True when this account or this address has failed too often in the window."""
        account = int(await store.get(self.account_key(username)) or 0)
        address = int(await store.get(self.ip_key(ip)) or 0)
        return account >= self.per_account or address >= self.per_ip

    async def failed(self, store: Store, username: str, ip: str) -> None:
        await store.incr(self.account_key(username), self.window)
        await store.incr(self.ip_key(ip), self.window)

    async def succeeded(self, store: Store, username: str) -> None:
        # the address counter stays: one good password must not reset a spraying campaign
        await store.delete(self.account_key(username))


DEFAULT_THROTTLE = LoginThrottle()
