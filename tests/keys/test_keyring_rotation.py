"""Rotation: old tokens keep verifying, retired keys leave on time, other processes catch up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from idp.keys.ring import InvalidToken, KeyRing
from tests.keys.manual_clock import ManualClock

RETIRE_AFTER = 3600


def kids(ring: KeyRing, alg: str, state: str) -> list[str]:
    return [k["kid"] for k in ring.describe() if k["alg"] == alg and k["state"] == state]


def jwks_kids(ring: KeyRing) -> set[str]:
    return {k["kid"] for k in ring.jwks()["keys"]}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_rotate_promotes_next_and_retires_current(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    [old_current], [old_next] = kids(ring, alg, "current"), kids(ring, alg, "next")
    before = ring.sign({"sub": "before"}, alg=alg)
    clock.advance(10)

    assert ring.rotate(alg) == {alg: old_next}

    after = ring.sign({"sub": "after"}, alg=alg)
    assert ring.verify(before)[0]["kid"] == old_current
    assert ring.verify(after)[0]["kid"] == old_next != old_current
    [new_next] = kids(ring, alg, "next")
    assert new_next not in (old_current, old_next)
    retired = [k for k in ring.describe() if k["kid"] == old_current]
    assert retired == [
        {
            "kid": old_current,
            "alg": alg,
            "state": "retired",
            "created_at": retired[0]["created_at"],
            "retired_at": clock(),
        }
    ]
    assert {old_current, old_next, new_next} <= jwks_kids(ring)


def test_rotate_one_alg_leaves_the_other(ring: KeyRing) -> None:
    rs_before = kids(ring, "RS256", "current") + kids(ring, "RS256", "next")
    ring.rotate("ES256")
    assert kids(ring, "RS256", "current") + kids(ring, "RS256", "next") == rs_before
    assert kids(ring, "RS256", "retired") == []


def test_rotate_all_algs(ring: KeyRing) -> None:
    nexts = {alg: kids(ring, alg, "next")[0] for alg in ("RS256", "ES256")}
    assert ring.rotate() == nexts
    assert len(kids(ring, "RS256", "retired")) == len(kids(ring, "ES256", "retired")) == 1


def test_rotate_rejects_unknown_alg(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="unsupported alg 'HS256'"):
        ring.rotate("HS256")


def test_rotation_is_persisted(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    ring.rotate()
    reopened = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=clock)
    assert reopened.describe() == ring.describe()
    assert reopened.jwks_json() == ring.jwks_json()


def test_retired_key_leaves_after_retire_after(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    [old] = kids(ring, "ES256", "current")
    token = ring.sign({"sub": "a"}, alg="ES256")
    ring.rotate("ES256")

    clock.advance(RETIRE_AFTER - 1)
    assert old in jwks_kids(ring)
    ring.verify(token)

    clock.advance(1)
    assert old not in jwks_kids(ring)
    assert old not in {k["kid"] for k in ring.describe()}
    with pytest.raises(InvalidToken, match="unknown kid"):
        ring.verify(token)
    # the file still lists it until the next open or rotate; open drops it for good
    assert old in (keys_dir / "keyring.json").read_text()
    KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=clock)
    assert old not in (keys_dir / "keyring.json").read_text()


def test_rotate_drops_expired_retired_keys(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    [first] = kids(ring, "RS256", "current")
    ring.rotate("RS256")
    clock.advance(RETIRE_AFTER)
    [second] = kids(ring, "RS256", "current")
    ring.rotate("RS256")
    assert kids(ring, "RS256", "retired") == [second]
    stored = json.loads((keys_dir / "keyring.json").read_text())
    assert first not in {k["kid"] for k in stored["keys"]}


def test_reload_picks_up_a_rotation_by_another_instance(keys_dir: Path, clock: ManualClock) -> None:
    server = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=clock)
    cli = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=clock)
    assert server.reload_if_changed() is False  # nothing happened yet

    new_kids = cli.rotate()
    # Before reloading, the server already verifies the new tokens: their key was its "next".
    from_cli = cli.sign({"sub": "a"}, alg="ES256")
    assert server.verify(from_cli)[0]["kid"] == new_kids["ES256"]

    assert server.reload_if_changed() is True
    assert server.reload_if_changed() is False
    assert server.describe() == cli.describe()
    assert server.jwks_json() == cli.jwks_json()
    assert server.verify(server.sign({"sub": "b"}))[0]["kid"] == new_kids["RS256"]


def test_unknown_kid_triggers_a_reload(keys_dir: Path, clock: ManualClock) -> None:
    server = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=clock)
    cli = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER, clock=clock)
    cli.rotate("ES256")
    cli.rotate("ES256")  # now signing with a key the server has never loaded
    token = cli.sign({"sub": "a"}, alg="ES256")
    assert server.verify(token)[1] == {"sub": "a"}
    assert server.describe() == cli.describe()


def test_a_broken_file_does_not_break_a_running_server(
    ring: KeyRing, keys_dir: Path, clock: ManualClock
) -> None:
    jwks_before = ring.jwks_json()
    (keys_dir / "keyring.json").write_text("{not json")
    assert ring.reload_if_changed() is False
    assert ring.jwks_json() == jwks_before
    ring.verify(ring.sign({"sub": "still signing"}))


ROTATIONS = 15
ROTATE_IN_A_SUBPROCESS = f"""
import sys, time
from pathlib import Path
from idp.keys.ring import KeyRing
ring = KeyRing.open(Path(sys.argv[1]))
go = Path(sys.argv[2])
while not go.exists():  # start both workers' rotations at the same moment
    time.sleep(0.001)
for _ in range({ROTATIONS}):
    ring.rotate("ES256")
"""


def test_concurrent_rotations_from_processes_are_not_lost(keys_dir: Path, tmp_path: Path) -> None:
    """Two processes rotate ES256 at once: the writer lock keeps every rotation."""
    KeyRing.open(keys_dir, retire_after=RETIRE_AFTER)
    go = tmp_path / "go"
    workers = [
        subprocess.Popen([sys.executable, "-c", ROTATE_IN_A_SUBPROCESS, str(keys_dir), str(go)])
        for _ in range(2)
    ]
    time.sleep(0.5)  # let both import and open; they spin until the go file appears
    go.touch()
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    ring = KeyRing.open(keys_dir, retire_after=RETIRE_AFTER)
    assert len(kids(ring, "ES256", "retired")) == 2 * ROTATIONS
    assert len(kids(ring, "ES256", "current")) == len(kids(ring, "ES256", "next")) == 1
    document = json.loads((keys_dir / "keyring.json").read_text())
    assert document["generation"] == 1 + 2 * ROTATIONS
