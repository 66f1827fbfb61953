from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PEERS = SHARED / "peers"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A fresh HTTP server on 127.0.0.1 with no routes."""
    srv = LoopbackServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def peers() -> Path:
    """``../shared/peers``; tests that need it skip only where it is absent."""
    if not PEERS.is_dir():
        pytest.skip("../shared/peers is absent")
    return PEERS

pytest_plugins = ["tests.dbfixtures"]
