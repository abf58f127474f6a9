"""The cache of already-verified tokens: it may skip the signature maths, nothing else.

What must keep holding for a token verified before: a key that left the ring stops verifying it,
the claim checks (exp, iss, typ, aud) run on every call, ``algs`` still narrows, callers get
their own objects, and the cache stays bounded.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import idp.keys.ring
from idp.keys.ring import InvalidToken, KeyRing
from tests.keys.manual_clock import ManualClock

ISSUER = "https://idp.campus.example"
RETIRE_AFTER = 3600  # the ring fixture's


def claims_for(clock: ManualClock, lifetime: int = 300, **extra: Any) -> dict[str, Any]:
    now = int(clock())
    return {"iss": ISSUER, "sub": "20231234", "aud": ["portal", "api"], "iat": now, "exp": now + lifetime,
            "jti": "j1", **extra}


def kid_of(ring: KeyRing, alg: str, state: str) -> str:
    return next(k["kid"] for k in ring.describe() if k["alg"] == alg and k["state"] == state)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_verified_token_stops_verifying_when_its_key_retires_for_good(
    ring: KeyRing, clock: ManualClock, alg: str
) -> None:
    token = ring.sign(claims_for(clock, lifetime=3 * RETIRE_AFTER), alg=alg, typ="at+jwt")
    ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    ring.rotate(alg)
    clock.advance(RETIRE_AFTER - 1)
    assert ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")[1]["sub"] == "20231234"
    clock.advance(1)  # the retired key leaves the ring; the token itself is still unexpired
    with pytest.raises(InvalidToken, match="unknown kid"):
        ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    with pytest.raises(InvalidToken, match="unknown kid"):
        ring.verify(token)


def test_a_key_dropped_by_another_process_stops_verifying_after_reload(
    keys_dir: Path, clock: ManualClock
) -> None:
    """The server's own clock has not moved: only the reloaded ring can tell it the key is gone."""
    server = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=clock)
    token = server.sign(claims_for(clock, lifetime=3 * RETIRE_AFTER), alg="ES256")
    old_kid = kid_of(server, "ES256", "current")
    server.verify(token)
    server.verify(token)

    later = ManualClock(clock())
    cli = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=later)
    cli.rotate("ES256")
    later.advance(RETIRE_AFTER)
    cli.rotate("ES256")  # drops the key retired by the first rotation, now past retire_after
    stored = json.loads((keys_dir / "keyring.json").read_text())
    assert old_kid not in {k["kid"] for k in stored["keys"]}
    assert server.verify(token)[1]["sub"] == "20231234"  # not reloaded yet: same as without a cache

    assert server.reload_if_changed() is True
    with pytest.raises(InvalidToken, match="unknown kid"):
        server.verify(token)


def test_claim_checks_run_on_every_call(ring: KeyRing, clock: ManualClock) -> None:
    token = ring.sign(claims_for(clock), alg="ES256", typ="at+jwt")
    ring.verify_claims(token, issuer=ISSUER, typ="at+jwt", audience="api")
    with pytest.raises(InvalidToken, match="wrong issuer"):
        ring.verify_claims(token, issuer="https://other.example", typ="at+jwt")
    with pytest.raises(InvalidToken, match="typ must be"):
        ring.verify_claims(token, issuer=ISSUER, typ="logout+jwt")
    with pytest.raises(InvalidToken, match="wrong audience"):
        ring.verify_claims(token, issuer=ISSUER, audience="elsewhere")
    clock.advance(300)
    with pytest.raises(InvalidToken, match="expired"):
        ring.verify_claims(token, issuer=ISSUER, typ="at+jwt", leeway=0)
    assert ring.verify_claims(token, issuer=ISSUER, typ="at+jwt", leeway=30)[1]["jti"] == "j1"


def test_an_expired_token_still_verifies_without_claim_checks(ring: KeyRing, clock: ManualClock) -> None:
    """verify() ignores exp (id_token_hint at logout): past exp the entry is dropped, and the
    signature is simply checked again."""
    token = ring.sign(claims_for(clock), alg="RS256")
    ring.verify(token)
    clock.advance(10 * 300)
    assert ring.verify(token)[1]["sub"] == "20231234"
    assert ring.verify(token)[1]["sub"] == "20231234"


def test_algs_still_narrow_for_a_token_seen_before(ring: KeyRing, clock: ManualClock) -> None:
    token = ring.sign(claims_for(clock), alg="ES256")
    ring.verify(token)
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify(token, algs=("RS256",))
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify_claims(token, issuer=ISSUER, algs=("RS256",))
    assert ring.verify(token, algs=("ES256",))[0]["alg"] == "ES256"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_variants_of_a_verified_token_are_checked_afresh(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    token = ring.sign(claims_for(clock), alg=alg)
    ring.verify(token)
    header, payload, signature = token.split(".")
    for variant in (f"{token}=", f"{token}==", f"{token} ", f"{token}.", f"{header}.{payload}.",
                    f"{header}.{payload}.{signature[:-1]}", f"{header}.{payload[:-1]}.{signature}"):
        with pytest.raises(InvalidToken):
            ring.verify(variant)
    assert ring.verify(token.encode())[1] == ring.verify(token)[1]


def test_callers_get_their_own_objects(ring: KeyRing, clock: ManualClock) -> None:
    token = ring.sign(claims_for(clock), alg="ES256", typ="at+jwt")
    first_header, first_claims = ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    first_claims["aud"].append("evil")  # a miss, then hits: none may see another's changes
    first_header["typ"] = "JWT"
    header, claims = ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    claims["aud"].append("evil")
    claims["iss"] = "https://evil.example"
    header["typ"] = "JWT"
    header2, claims2 = ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    assert claims2 == claims_for(clock)
    assert header2["typ"] == "at+jwt"
    assert claims2 is not claims and header2 is not header


def test_tokens_without_a_usable_exp_verify_every_time(ring: KeyRing, clock: ManualClock) -> None:
    for claims in ({"sub": "a"}, {"sub": "a", "exp": "never"}, {"sub": "a", "exp": True}):
        token = ring.sign(claims, alg="ES256")
        assert ring.verify(token)[1] == claims
        assert ring.verify(token)[1] == claims
        assert token.encode() not in ring._verified


def test_the_cache_is_bounded(ring: KeyRing, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idp.keys.ring, "VERIFIED_CACHE_SIZE", 8)
    tokens = [ring.sign(claims_for(clock, n=n), alg="ES256") for n in range(30)]
    for token in tokens:
        ring.verify(token)
        assert len(ring._verified) <= 8
    assert tokens[-1].encode() in ring._verified  # the newest stay, the oldest went first
    assert tokens[0].encode() not in ring._verified
    for n, token in enumerate(tokens):  # evicted or not, every token still verifies
        assert ring.verify(token)[1]["n"] == n


def test_concurrent_verification_with_eviction(ring: KeyRing, clock: ManualClock,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idp.keys.ring, "VERIFIED_CACHE_SIZE", 4)
    tokens = [ring.sign(claims_for(clock, n=n), alg="ES256") for n in range(12)]
    forged = tokens[0].rsplit(".", 1)[0] + "." + tokens[1].rsplit(".", 1)[1]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for round_ in range(20):
                n = (offset + round_) % len(tokens)
                assert ring.verify(tokens[n])[1]["n"] == n
                with pytest.raises(InvalidToken, match="bad signature"):
                    ring.verify(forged)
        except BaseException as err:  # collected: an assert in a thread would otherwise be lost
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ring._verified) <= 4
