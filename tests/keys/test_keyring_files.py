"""The keys directory on disk: created safely, reloaded identically, never silently replaced."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from idp.keys.ring import KeyRing, KeyRingError
from tests.keys.manual_clock import ManualClock

KEYRING = "keyring.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def rfc7638_thumbprint(public_jwk: dict) -> str:
    """RFC 7638 §3.2 computed by hand: required members only, sorted, no whitespace, SHA-256."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[public_jwk["kty"]]
    canonical = json.dumps({k: public_jwk[k] for k in required}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_first_open_creates_private_dir_and_file(keys_dir: Path, clock: ManualClock) -> None:
    old_umask = os.umask(0o022)  # a typical umask: would leave 0755 / 0644 if we did not insist
    try:
        KeyRing.open(keys_dir, clock=clock)
    finally:
        os.umask(old_umask)
    assert mode(keys_dir) == 0o700
    assert mode(keys_dir / KEYRING) == 0o600
    assert mode(keys_dir / ".lock") == 0o600
    # the atomic write leaves no temp file behind
    assert sorted(p.name for p in keys_dir.iterdir()) == [".lock", KEYRING]


def test_first_open_makes_current_and_next_for_each_alg(ring: KeyRing) -> None:
    states = sorted((k["alg"], k["state"]) for k in ring.describe())
    assert states == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]
    kids = [k["kid"] for k in ring.describe()]
    assert len(set(kids)) == 4


def test_kids_are_rfc7638_thumbprints(ring: KeyRing) -> None:
    for key in ring.jwks()["keys"]:
        assert key["kid"] == rfc7638_thumbprint(key)


def test_key_sizes(ring: KeyRing) -> None:
    by_alg = {k["alg"]: k for k in ring.jwks()["keys"]}
    modulus = base64.urlsafe_b64decode(by_alg["RS256"]["n"] + "==")
    assert len(modulus) * 8 == 2048
    assert by_alg["ES256"]["crv"] == "P-256"


def test_reopen_loads_the_same_keys(keys_dir: Path, clock: ManualClock) -> None:
    first = KeyRing.open(keys_dir, clock=clock)
    before = (keys_dir / KEYRING).read_bytes()
    clock.advance(60)
    second = KeyRing.open(keys_dir, clock=clock)
    assert second.describe() == first.describe()
    assert second.jwks_json() == first.jwks_json()
    # nothing to change, so nothing was rewritten
    assert (keys_dir / KEYRING).read_bytes() == before
    token = first.sign({"sub": "a"}, alg="ES256")
    assert second.verify(token)[1] == {"sub": "a"}


def test_a_ring_missing_an_alg_is_completed_not_replaced(keys_dir: Path, clock: ManualClock) -> None:
    original = KeyRing.open(keys_dir, clock=clock)
    document = json.loads((keys_dir / KEYRING).read_text())
    document["keys"] = [k for k in document["keys"] if k["alg"] == "RS256"]
    (keys_dir / KEYRING).write_text(json.dumps(document))
    reopened = KeyRing.open(keys_dir, clock=clock)
    rs_kids = {k["kid"] for k in original.describe() if k["alg"] == "RS256"}
    assert {k["kid"] for k in reopened.describe() if k["alg"] == "RS256"} == rs_kids
    assert sorted(k["state"] for k in reopened.describe() if k["alg"] == "ES256") == [
        "current",
        "next",
    ]


def test_corrupt_file_is_a_clear_error_and_is_kept(keys_dir: Path, clock: ManualClock) -> None:
    KeyRing.open(keys_dir, clock=clock)
    broken = (keys_dir / KEYRING).read_bytes()[:-40]
    (keys_dir / KEYRING).write_bytes(broken)
    with pytest.raises(KeyRingError, match="not valid JSON") as caught:
        KeyRing.open(keys_dir, clock=clock)
    assert '"d"' not in str(caught.value)
    # never regenerate over it: that would invalidate every token and lose the keys
    assert (keys_dir / KEYRING).read_bytes() == broken


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda k: k.update(kid="made-up"), "not the RFC 7638 thumbprint"),
        (lambda k: k.update(alg="HS256"), "unsupported alg"),
        (lambda k: k.update(state="active"), "state must be one of"),
        (lambda k: k["jwk"].pop("d"), "private part is missing"),
        (lambda k: k.update(jwk="PEM?"), "'jwk' must be an object"),
        (lambda k: k.update(created_at="yesterday"), "'created_at' must be a number"),
    ],
)
def test_edited_key_entries_are_rejected(keys_dir: Path, clock: ManualClock, edit, message: str) -> None:
    KeyRing.open(keys_dir, clock=clock)
    document = json.loads((keys_dir / KEYRING).read_text())
    edit(document["keys"][0])
    (keys_dir / KEYRING).write_text(json.dumps(document))
    with pytest.raises(KeyRingError, match=message):
        KeyRing.open(keys_dir, clock=clock)


def test_two_current_keys_for_one_alg_are_rejected(keys_dir: Path, clock: ManualClock) -> None:
    KeyRing.open(keys_dir, clock=clock)
    document = json.loads((keys_dir / KEYRING).read_text())
    for key in document["keys"]:
        if key["alg"] == "ES256":
            key["state"] = "current"
    (keys_dir / KEYRING).write_text(json.dumps(document))
    with pytest.raises(KeyRingError, match="more than one current ES256 key"):
        KeyRing.open(keys_dir, clock=clock)


def test_keys_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("oops")
    with pytest.raises(KeyRingError, match="not a directory"):
        KeyRing.open(tmp_path / "keys")


def test_retire_after_must_be_positive(keys_dir: Path) -> None:
    with pytest.raises(ValueError, match="retire_after"):
        KeyRing.open(keys_dir, retire_after=0)


def test_private_material_stays_out_of_reprs_and_describe(ring: KeyRing, keys_dir: Path) -> None:
    document = json.loads((keys_dir / KEYRING).read_text())
    secrets = [k["jwk"]["d"] for k in document["keys"]]
    shown = repr(ring.describe()) + repr(ring._ring) + ring.jwks_json().decode()
    for secret in secrets:
        assert secret not in shown
