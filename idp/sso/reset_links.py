"""One-time password reset links, in the Store: issued by the forgot-password page (by e-mail) or
by an admin (console, API, `idp users`), redeemed by the reset page (idp/web/account_reset.py).

A link carries 256 random bits; the Store keeps only its SHA-256 digest, for the link's lifetime,
and only the newest link of a person works. A link is taken atomically when the new password is
saved, so it works once (and is put back if the directory could not take the password).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from directory.base import Person
from idp.store.base import Store

MAX_TOKEN = 128


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_key(token: str) -> str:
    return f"pwreset:{_digest(token)}"


def _latest_key(subject: str) -> str:
    return f"pwreset-latest:{subject}"


async def issue(store: Store, issuer: str, person: Person, ttl: int, *,
                issued_by: str | None = None) -> str:
    """A new link for the person, working for `ttl` seconds; it replaces any earlier link of
    theirs. `issued_by`: the admin who hands it out, named in the audit log when it is used."""
    token = secrets.token_urlsafe(32)
    record: dict[str, Any] = {"subject": person.subject, "username": person.username,
                              "expires": int(time.time()) + ttl}
    if issued_by:
        record["by"] = issued_by
    await store.put(_token_key(token), json.dumps(record), ttl)
    await store.put(_latest_key(person.subject), _digest(token), ttl)
    return f"{issuer}/account/reset/{token}"


async def live_record(store: Store, token: str) -> dict[str, Any] | None:
    """The link's record (subject, username, expires, by) while it is the person's newest."""
    if not token or len(token) > MAX_TOKEN:
        return None
    raw = await store.get(_token_key(token))
    if raw is None:
        return None
    record = json.loads(raw)
    latest = await store.get(_latest_key(record["subject"]))
    return record if latest and hmac.compare_digest(latest, _digest(token)) else None


async def take(store: Store, token: str) -> bool:
    """Use the link up (atomically: of two concurrent submissions only one gets True)."""
    return await store.take(_token_key(token)) is not None


async def put_back(store: Store, token: str, record: dict[str, Any]) -> None:
    """The password could not be written: the link works again for the rest of its life."""
    left = record["expires"] - int(time.time())
    if left > 0:
        await store.put(_token_key(token), json.dumps(record), left)


async def forget(store: Store, subject: str) -> None:
    """The password was reset: no earlier link of the person works any more."""
    await store.delete(_latest_key(subject))
