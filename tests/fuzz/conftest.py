"""The fuzzers' server (a thread of its own) and the checks every fuzzed request must pass."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fuzz.server import FuzzServer


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    server = FuzzServer(tmp_path_factory.mktemp("fuzz")).start()
    yield server
    server.stop()


@pytest.fixture
def client(fuzz_server: FuzzServer) -> Iterator[httpx.Client]:
    """A blocking HTTP client: the fuzz server runs on a loop of its own."""
    with httpx.Client(base_url=fuzz_server.base_url, timeout=20) as http:
        yield http
