from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.loopback import LoopbackServer

if TYPE_CHECKING:
    from classifiers import Classifier

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


@pytest.fixture(scope="session")
def seeds_model() -> Classifier:
    """The model trained on the five seeds alone (``train([])``), trained once per test
    session. For tests that need *a* trained model and do not change it; a test of
    training itself trains its own."""
    from classifiers import train

    return train([])


@pytest.fixture(scope="session")
def seeds_model_dir(seeds_model: Classifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`seeds_model` saved (with its compiled gazetteer): read it or copy it, never
    write into it."""
    from classifiers import save_model

    return save_model(seeds_model, tmp_path_factory.mktemp("seeds-model"))


@pytest.fixture
def peers() -> Path:
    """``../shared/peers``; tests that need it skip only where it is absent."""
    if not PEERS.is_dir():
        pytest.skip("../shared/peers is absent")
    return PEERS

pytest_plugins = ["tests.dbfixtures"]
