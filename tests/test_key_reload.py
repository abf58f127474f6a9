"""A key rotated by another process (`idp keys rotate`, another replica) reaches the running
server's JWKS within the documented bound, and tokens signed before keep verifying."""

from __future__ import annotations

import asyncio
import time

from idp.app import KEY_RELOAD_SECONDS
from idp.keys.ring import KeyRing
from tests.support.server import LiveIdp


async def test_rotation_elsewhere_reaches_the_jwks_in_bounded_time(live_idp: LiveIdp) -> None:
    old_token = live_idp.services.keys.sign({"iss": live_idp.settings.issuer, "probe": 1})
    other = KeyRing.open(live_idp.settings.keys_dir)  # as `idp keys rotate` would open it
    other.rotate("ES256")
    new_current = next(r["kid"] for r in other.describe()
                       if r["alg"] == "ES256" and r["state"] == "current")
    started = time.monotonic()
    async with live_idp.client() as http:
        while True:
            kids = {key["kid"] for key in (await http.get("/jwks")).json()["keys"]}
            served_current = next(r["kid"] for r in live_idp.services.keys.describe()
                                  if r["alg"] == "ES256" and r["state"] == "current")
            if served_current == new_current:
                break
            assert time.monotonic() - started < KEY_RELOAD_SECONDS + 2, "rotation not adopted"
            await asyncio.sleep(0.2)
    assert new_current in kids
    assert live_idp.services.keys.verify(old_token)[1]["probe"] == 1
