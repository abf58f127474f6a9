"""QR sign-in across two `idp serve` processes sharing Redis: the PC's long poll is held by
replica B while the phone confirms on replica A. B hears of it through Redis (the Store's
signal/wait), not through anything in its own process, and answers within a second."""

from __future__ import annotations

import html
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from tests.replicas.conftest import Cluster
from tests.replicas.test_two_replicas import (
    authorize_params,
    code_from,
    csrf_of,
    id_token_claims,
    log_in,
    redeem,
)


def attribute(page: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


def test_a_confirmation_on_a_wakes_the_long_poll_held_by_b(cluster: Cluster) -> None:
    a, b = cluster.replicas[0], cluster.replicas[1]
    with httpx.Client(timeout=40) as pc, httpx.Client(timeout=15) as phone:
        log_in(phone, a.url, cluster)  # the phone is signed in (on A)
        params, verifier = authorize_params()
        params["client_id"] = cluster.client_id
        login = pc.get(f"{b.url}/authorize", params=params).headers["location"]
        tab = pc.get(f"{b.url}{login}/qr")
        assert tab.status_code == 200, tab.text[:1000]
        code_path = urlsplit(attribute(tab.text, "data-url")).path
        wait = attribute(tab.text, "data-wait")
        redeem_path = re.search(r'<form id="qr-redeem" method="post" action="([^"]+)"',
                                tab.text).group(1)  # type: ignore[union-attr]

        page = phone.get(f"{a.url}{code_path}")
        assert page.status_code == 200 and 'id="qr-confirm"' in page.text, page.text[:1000]
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(lambda: pc.get(f"{b.url}{wait}", params={"seen": "scanned"}))
            time.sleep(0.5)
            assert not held.done(), "B answered before anything happened"
            confirmed_at = time.monotonic()
            done = phone.post(f"{a.url}{code_path}", data={"csrf": csrf_of(page.text),
                                                           "action": "confirm"})
            assert done.status_code == 200, done.text[:1000]
            answer = held.result(timeout=10)
            elapsed = time.monotonic() - confirmed_at
        assert answer.json()["state"] == "confirmed"
        assert elapsed < 1.0, f"B answered {elapsed:.2f} s after A's confirmation"

        redeemed = pc.post(f"{b.url}{redeem_path}", data={"csrf": csrf_of(tab.text)})
        assert redeemed.status_code == 303, redeemed.text[:1000]
        resumed = pc.get(f"{a.url}{redeemed.headers['location']}")  # and on to A: no matter
        tokens = redeem(cluster, a.url, code_from(resumed.headers["location"]), verifier)
    claims = id_token_claims(b.url, tokens["id_token"])
    assert claims["preferred_username"] == "student" and "mca" in claims["amr"]
