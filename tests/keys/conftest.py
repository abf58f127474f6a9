"""Fixtures for the KeyRing tests: a real keys directory under tmp_path and a clock we can move."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.keys.ring import KeyRing
from tests.keys.manual_clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "keys"


@pytest.fixture
def ring(keys_dir: Path, clock: ManualClock) -> KeyRing:
    return KeyRing.open(keys_dir, retire_after=3600, clock=clock)
