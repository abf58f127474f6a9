"""Device authorizations (RFC 8628) in the Store: issued, looked up by user code, decided by the
person, polled by the device, redeemed once.

Keys (all short-lived, all under `device`):

- `device:{digest of the device code}`: the DeviceAuthorization, JSON. It outlives `expires_in`
  by GRACE seconds, so a device that polls late hears `expired_token` rather than
  `invalid_grant`; the device code itself is never stored (fosite keeps digests only).
- `device-user:{user code}` -> the device code's digest, for `expires_in`. Created with add(), so
  two live authorizations never share a user code; deleted once the person decided.
- `device-decided:{digest}`: set with add() by the one decision that counts; a second tab, a
  double click or a replayed confirmation finds it taken.
- `device-poll:{digest}` / `device-slow:{digest}`: the polling pace. A poll must find the first
  gone (it lives one interval); one that does not is too fast and adds 5 seconds to the second,
  for this and every later poll (§3.5).

A decision rewrites the record (status approved or denied); the redemption takes it out of the
Store atomically (GETDEL), so a device code is good for one set of tokens.
"""

from __future__ import annotations

import json
import secrets
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Literal

from idp.protocols.oidc.models import StoredCode
from idp.protocols.oidc.tokens import token_digest
from idp.settings import DeviceSettings
from idp.store.base import Store

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 8628 §6.1: consonants only (no vowels, so no words; no digits, so no 0/O or 1/I mix-ups),
# 20^8 = 2.6e10 codes, typed on a phone without switching keyboards
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
GRACE = 300  # seconds a record is kept past its expiry, to answer expired_token
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5
MAX_DEVICE_CODE = 128

Status = Literal["pending", "approved", "denied"]
PollOutcome = Literal["unknown", "expired", "pending", "slow_down", "denied", "approved"]


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalize_user_code(typed: str | None) -> str | None:
    """What a person typed -> the stored form, or None when it cannot be a user code. Case,
    hyphens and spaces do not matter (§6.1: be lenient with what people type), nor the
    full-width letters a Chinese input method types (ＢＣＤＦ－ＧＨＪＫ, by NFKC)."""
    if not isinstance(typed, str) or len(typed) > 32:
        return None
    typed = unicodedata.normalize("NFKC", typed)
    code = "".join(ch for ch in typed.upper() if ch not in "- \t\u3000")
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


def display_user_code(code: str) -> str:
    """XXXX-XXXX: easier to read aloud and to compare with the device's screen."""
    return f"{code[:4]}-{code[4:]}"


@dataclass
class DeviceAuthorization:
    """One device authorization request and, once the person decided, its answer."""

    client_id: str
    scope: str  # what the device asked for, narrowed to what the client may have
    user_code: str  # normalized (no hyphen)
    issued_at: int
    expires_at: int
    ip: str | None = None  # the device's address, shown to the person confirming
    resource: list[str] = field(default_factory=list)
    status: Status = "pending"
    # approved: the sign-in behind the grant, as an authorization code would carry it
    grant: dict[str, object] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> DeviceAuthorization:
        return cls(**json.loads(raw))

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) >= self.expires_at

    def stored_code(self) -> StoredCode:
        """The approved grant in the shape the token factory reads (auth_time, acr, amr, sid)."""
        assert self.grant is not None
        return StoredCode(**self.grant)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Issued:
    device_code: str
    user_code: str  # normalized
    record: DeviceAuthorization


@dataclass(frozen=True)
class Poll:
    outcome: PollOutcome
    record: DeviceAuthorization | None = None
    interval: int = 0  # the pace the device must keep from now on


class DeviceCodes:
    def __init__(self, store: Store, settings: DeviceSettings) -> None:
        self.store = store
        self.ttl = settings.code_ttl
        self.interval = settings.interval

    @staticmethod
    def _key(digest: str) -> str:
        return f"device:{digest}"

    async def issue(self, client_id: str, scope: str, *, ip: str | None,
                    resource: list[str] | None = None) -> Issued:
        device_code = secrets.token_urlsafe(32)
        digest = token_digest(device_code)
        now = int(time.time())
        for _ in range(8):  # a clash among live codes is rare (1 in 10^6 at 25,000 live codes)
            user_code = new_user_code()
            if await self.store.add(f"device-user:{user_code}", digest, self.ttl):
                break
        else:  # pragma: no cover - 8 clashes in a row: the code space is full of live codes
            raise RuntimeError("no free user code")
        record = DeviceAuthorization(client_id=client_id, scope=scope, user_code=user_code,
                                     issued_at=now, expires_at=now + self.ttl, ip=ip,
                                     resource=list(resource or []))
        await self.store.put(self._key(digest), record.to_json(), self.ttl + GRACE)
        return Issued(device_code, user_code, record)

    async def by_user_code(self, user_code: str) -> tuple[str, DeviceAuthorization] | None:
        """(digest, record) of a live, undecided authorization, by its normalized user code."""
        digest = await self.store.get(f"device-user:{user_code}")
        if digest is None:
            return None
        record = await self.get(digest)
        if record is None or record.status != "pending" or record.expired():
            return None
        return digest, record

    async def get(self, digest: str) -> DeviceAuthorization | None:
        raw = await self.store.get(self._key(digest))
        return DeviceAuthorization.from_json(raw) if raw else None

    async def decide(self, digest: str, *, grant: StoredCode | None) -> DeviceAuthorization | None:
        """The person's answer: approved with the sign-in `grant`, or denied (None). Only the
        first decision counts; None when there was none to make (decided, expired, gone)."""
        record = await self.get(digest)
        if record is None or record.status != "pending" or record.expired():
            return None
        left = record.expires_at + GRACE - int(time.time())
        if not await self.store.add(f"device-decided:{digest}", "1", max(left, 1)):
            return None
        record.status = "approved" if grant is not None else "denied"
        record.grant = asdict(grant) if grant is not None else None
        await self.store.put(self._key(digest), record.to_json(), max(left, 1))
        await self.store.delete(f"device-user:{record.user_code}")
        return record

    async def poll(self, device_code: str, client_id: str) -> Poll:
        """One poll of the token endpoint (§3.4, §3.5). An approved or denied authorization is
        taken out of the Store by the poll that hears the answer: it is told once."""
        if not device_code or len(device_code) > MAX_DEVICE_CODE:
            return Poll("unknown")
        digest = token_digest(device_code)
        record = await self.get(digest)
        if record is None or record.client_id != client_id:
            # another client's device code is not found: it may neither use nor spend it
            return Poll("unknown")
        if record.expired():
            return Poll("expired", record)
        if record.status == "pending":
            return await self._pace(digest, record)
        taken = await self.store.take(self._key(digest))
        if taken is None:
            return Poll("unknown")  # a concurrent poll heard the answer first
        await self.store.delete(f"device-poll:{digest}", f"device-slow:{digest}")
        final = DeviceAuthorization.from_json(taken)
        return Poll("approved" if final.status == "approved" else "denied", final)

    async def _pace(self, digest: str, record: DeviceAuthorization) -> Poll:
        extra = int(await self.store.get(f"device-slow:{digest}") or 0)
        interval = self.interval + extra
        left = max(record.expires_at + GRACE - int(time.time()), 1)
        # one second of slack: a device that waits exactly `interval` after the answer must not
        # be early because the guard was set a moment before that answer left
        if await self.store.add(f"device-poll:{digest}", "1", max(interval - 1, 1)):
            return Poll("pending", record, interval)
        extra = await self.store.incr(f"device-slow:{digest}", left, SLOW_DOWN_STEP)
        return Poll("slow_down", record, self.interval + extra)
