"""The QR sign-in record (idp/sso/qr_logins.py) on every Store backend: one phone claims a code,
confirmation and refusal wake the PC's wait at once, a confirmation is taken once, and only the
browser secret the code was made for matches it."""

from __future__ import annotations

import asyncio
import time

from idp.sso.qr_logins import Device, QrLogins
from idp.store import Store


async def started(store: Store, ttl: int = 60) -> tuple[QrLogins, str]:
    logins = QrLogins(store, ttl)
    qr = await logins.start(signin_id="s1", browser_secret="pc-secret", app_id="app",
                            app_name="App", pc=Device("10.0.0.1", "Chrome"))
    return logins, qr.code


async def test_one_phone_claims_a_code(store: Store) -> None:
    logins, code = await started(store)
    qr = await logins.get(code)
    assert qr is not None and qr.state == "waiting" and 58 <= qr.seconds_left() <= 60
    assert qr.held_by("pc-secret") and not qr.held_by("other") and not qr.held_by(None)
    first, second = await asyncio.gather(
        logins.scan(qr, sid="phone-a", phone=Device("10.0.0.2", "WeChat")),
        logins.scan(await logins.get(code), sid="phone-b",  # type: ignore[arg-type]
                    phone=Device("10.0.0.3", "Safari")))
    assert (first, second) == (True, False)
    scanned = await logins.get(code)
    assert scanned is not None and scanned.state == "scanned" and scanned.scanned_by("phone-a")
    assert not scanned.scanned_by("phone-b")
    assert scanned.phone == Device("10.0.0.2", "WeChat")
    assert await logins.scan(scanned, sid="phone-a", phone=Device("10.0.0.2", "WeChat"))


async def test_confirmation_wakes_the_wait_and_is_taken_once(store: Store) -> None:
    logins, code = await started(store)
    qr = await logins.get(code)
    assert qr is not None
    await logins.scan(qr, sid="phone", phone=Device("10.0.0.2"))
    waiting = asyncio.create_task(logins.wait_change(code, "scanned", 10))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    began = time.monotonic()
    assert await logins.confirm(qr, subject="sub-1", username="zhangsan", amr=["pwd", "mca"])
    changed = await asyncio.wait_for(waiting, 3)
    assert time.monotonic() - began < 0.5
    assert changed is not None and changed.state == "confirmed" and changed.subject == "sub-1"
    taken = await asyncio.gather(logins.take(code), logins.take(code))
    assert sum(t is not None for t in taken) == 1
    assert await logins.get(code) is None
    assert await logins.wait_change(code, "confirmed", 1) is None


async def test_refusal_wakes_the_wait(store: Store) -> None:
    logins, code = await started(store)
    qr = await logins.get(code)
    assert qr is not None
    waiting = asyncio.create_task(logins.wait_change(code, "waiting", 10))
    await logins.scan(qr, sid="phone", phone=Device("10.0.0.2"))
    assert (await asyncio.wait_for(waiting, 3)).state == "scanned"  # type: ignore[union-attr]
    waiting = asyncio.create_task(logins.wait_change(code, "scanned", 10))
    assert await logins.refuse(qr)
    assert (await asyncio.wait_for(waiting, 3)).state == "refused"  # type: ignore[union-attr]


async def test_an_unchanged_code_keeps_the_wait_until_it_expires(store: Store) -> None:
    logins = QrLogins(store, 60)
    qr = await logins.start(signin_id="s1", browser_secret="x", app_id="a", app_name="A",
                            pc=Device("10.0.0.1"))
    began = time.monotonic()
    same = await logins.wait_change(qr.code, "waiting", 0.5)
    assert same is not None and same.state == "waiting" and time.monotonic() - began >= 0.45
    # a code about to expire: the wait ends with it, not at its own deadline
    same.expires_at = int(time.time()) + 1
    await store.put(f"qr:{qr.code}", same.dump(), 1)
    began = time.monotonic()
    assert await logins.wait_change(qr.code, "waiting", 20) is None
    assert time.monotonic() - began < 4
