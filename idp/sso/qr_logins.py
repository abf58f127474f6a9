"""QR sign-ins: a phone that is signed in confirms a pending sign-in shown on another screen.

A QrLogin belongs to one PendingSignIn (signins.py) shown on a PC and to that PC's browser: the
record keeps a SHA-256 digest of a random secret that only the PC's browser holds (a cookie), and
the PC alone may watch it and redeem it. Its `code` is what the QR code carries (inside the URL
of the phone's confirmation page), so a photograph of the code lets someone confirm or refuse but
never sign their own browser in.

The life of one code, each step audited by the pages:
  waiting --(a signed-in phone opens the URL)--> scanned --(that phone confirms)--> confirmed
                                                          \\-(or refuses)-------> refused
A code can be scanned by one phone session only (claimed atomically), expires after
IDP_QR_TTL seconds unless confirmed, and a confirmed one is taken out of the Store once
(`take`) by the PC, which then finishes the pending sign-in as the confirmed person.

Each change signals `qr-signal:{code}` (Store.signal), so the PC's long poll (`wait_change`)
answers within moments on whichever replica it is held.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

from idp.settings import Settings
from idp.sso.signins import PendingSignIn
from idp.store.base import Store

# the sign-ins of apps: never the account page's step-up (a fresh password, by design) nor a
# phone's own sign-in on its way to a confirmation
QR_PROTOCOLS = ("oidc", "cas")
State = Literal["waiting", "scanned", "confirmed", "refused"]
MAX_CODE = 64
MAX_AGENT = 300
# a confirmed code waits this long (at least) for the PC to redeem it, even when it was confirmed
# in the last second of its life
REDEEM_GRACE = 60
# a refused one lingers so the PC learns why, then is gone
REFUSED_TTL = 30


def offers_qr(settings: Settings, signin: PendingSignIn) -> bool:
    """Whether this pending sign-in may be finished by scanning a code."""
    return settings.qr.enabled and signin.page == "login" and signin.protocol in QR_PROTOCOLS


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(slots=True)
class Device:
    """Where one side of the sign-in is: its address and its browser's User-Agent."""

    ip: str
    agent: str = ""


@dataclass(slots=True)
class QrLogin:
    code: str
    signin_id: str  # the PendingSignIn the PC shows
    browser: str  # digest of the PC browser's secret (its QR cookie)
    app_id: str
    app_name: str
    created_at: int
    expires_at: int
    pc: Device
    state: State = "waiting"
    phone: Device | None = None
    phone_session: str | None = None  # digest of the phone's SSO session id
    phone_csrf: str | None = None  # the CSRF token of the phone's confirmation form
    # filled in at confirmation: who signs in, and what their phone's session proved
    subject: str | None = None
    username: str | None = None
    amr: list[str] = field(default_factory=list)
    changed_at: int = 0

    @classmethod
    def load(cls, raw: str) -> QrLogin:
        data = json.loads(raw)
        data["pc"] = Device(**data["pc"])
        data["phone"] = Device(**data["phone"]) if data.get("phone") else None
        return cls(**data)

    def dump(self) -> str:
        return json.dumps(asdict(self))

    def held_by(self, browser_secret: str | None) -> bool:
        """Whether this is the PC browser the code was made for (constant time)."""
        return bool(browser_secret) and hmac.compare_digest(
            self.browser, digest(browser_secret or ""))

    def scanned_by(self, sid: str | None) -> bool:
        return bool(sid and self.phone_session) and hmac.compare_digest(
            self.phone_session or "", digest(sid or ""))

    @property
    def lifetime(self) -> int:
        """How long the code lives in all (IDP_QR_TTL when it was made)."""
        return self.expires_at - self.created_at

    def seconds_left(self, now: float | None = None) -> int:
        return max(0, self.expires_at - int(now or time.time()))


class QrLogins:
    def __init__(self, store: Store, ttl: int) -> None:
        self.store = store
        self.ttl = ttl

    @staticmethod
    def _key(code: str) -> str:
        return f"qr:{code}"

    @staticmethod
    def _signal_key(code: str) -> str:
        return f"qr-signal:{code}"

    async def start(self, *, signin_id: str, browser_secret: str, app_id: str, app_name: str,
                    pc: Device) -> QrLogin:
        now = int(time.time())
        qr = QrLogin(code=secrets.token_urlsafe(24), signin_id=signin_id,
                     browser=digest(browser_secret), app_id=app_id, app_name=app_name,
                     created_at=now, expires_at=now + self.ttl,
                     pc=Device(pc.ip, pc.agent[:MAX_AGENT]), changed_at=now)
        await self.store.put(self._key(qr.code), qr.dump(), self.ttl)
        return qr

    async def get(self, code: str | None) -> QrLogin | None:
        if not code or len(code) > MAX_CODE:
            return None
        raw = await self.store.get(self._key(code))
        qr = QrLogin.load(raw) if raw else None
        # the record's own expiry decides: the Store's TTL counts whole seconds and may keep
        # the item for a moment after it
        return qr if qr is not None and qr.expires_at > time.time() else None

    async def _save(self, qr: QrLogin, ttl: int | None = None) -> bool:
        """Write back a changed code for the time it has left (or `ttl`) and wake its watcher;
        False when it expired meanwhile."""
        if ttl is None:
            left = await self.store.ttl(self._key(qr.code))
            if not left:
                return False
            ttl = left
        qr.changed_at = int(time.time())
        await self.store.put(self._key(qr.code), qr.dump(), ttl)
        await self.store.signal(self._signal_key(qr.code), max(ttl, 1))
        return True

    async def scan(self, qr: QrLogin, *, sid: str, phone: Device) -> bool:
        """The first phone session to open the code claims it; False for any other."""
        if qr.scanned_by(sid):
            return True
        if qr.state != "waiting":
            return False
        claimed = await self.store.add(f"qr-claim:{qr.code}", digest(sid),
                                       max(qr.seconds_left(), 1))
        if not claimed:
            return False
        qr.state = "scanned"
        qr.phone = Device(phone.ip, phone.agent[:MAX_AGENT])
        qr.phone_session = digest(sid)
        return await self._save(qr)

    async def remember_csrf(self, qr: QrLogin, token: str) -> None:
        if qr.phone_csrf != token:
            qr.phone_csrf = token
            await self._save(qr)

    async def confirm(self, qr: QrLogin, *, subject: str, username: str,
                      amr: list[str]) -> bool:
        qr.state = "confirmed"
        qr.subject, qr.username, qr.amr = subject, username, list(amr)
        return await self._save(qr, max(qr.seconds_left(), REDEEM_GRACE))

    async def refuse(self, qr: QrLogin) -> bool:
        qr.state = "refused"
        return await self._save(qr, REFUSED_TTL)

    async def take(self, code: str) -> QrLogin | None:
        """Out of the Store, once: two redemptions of one confirmation cannot both succeed."""
        raw = await self.store.take(self._key(code))
        if raw is None:
            return None
        await self.store.delete(f"qr-claim:{code}", self._signal_key(code))
        return QrLogin.load(raw)

    async def wait_change(self, code: str, seen: str, seconds: float) -> QrLogin | None:
        """The code once its state is no longer `seen`, or as it is after `seconds` (None when
        it has expired or was redeemed). Blocks on the Store's signal, not on a timer: a change
        made on any replica answers at once."""
        deadline = time.monotonic() + seconds
        while True:
            qr = await self.get(code)
            if qr is None or qr.state != seen:
                return qr
            # wake at the code's expiry too, so the PC hears of it without another request
            left = min(deadline - time.monotonic(), qr.seconds_left() + 0.5)
            if left <= 0:
                return qr
            await self.store.wait(self._signal_key(code), left)
