from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

IDP = str(Path(sys.executable).parent / "idp")

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def idp_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for the `idp` command: embedded defaults inside tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path}/idp.db",
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "LDAPNOINIT": "1",
    })
    return env


@pytest.fixture
def run_idp(idp_env: dict[str, str], tmp_path: Path) -> Runner:
    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [IDP, *args], input=input, capture_output=True, text=True, timeout=120,
            env={**idp_env, **(env or {})}, cwd=tmp_path,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"idp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    return run
