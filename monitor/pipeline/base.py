"""What every unit of work shares: settings, the engine, the HTTP client, the
extraction processes, the locks. The units are mixed into :class:`Pipeline`."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context

from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.fetching import Fetcher
from storage.db import make_engine


class PipelineBase:
    """Shared state and lifecycle of the units of work."""

    def __init__(
        self, settings: Settings, *, engine: Engine | None = None, workers: int | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.resolved_database_url)
        if workers is None:
            workers = settings.schedule.extraction_workers
        self.workers = workers or os.cpu_count() or 1
        self._fetcher: Fetcher | None = None
        self._pool: Executor | None = None
        # Dedupe-then-store must not interleave: two copies of one story processed
        # at once would otherwise both find no earlier copy.
        self._store_lock = threading.Lock()
        self._stopping = threading.Event()
        self._pool_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    @property
    def fetcher(self) -> Fetcher:
        with self._pool_lock:  # one HTTP client shared by every thread
            if self._fetcher is None:
                self._fetcher = Fetcher(self.settings.fetch)
            return self._fetcher

    def _extractor(self) -> Executor | None:
        if self.workers <= 1:
            return None
        with self._pool_lock:  # many item threads ask at once: start one pool, not many
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
            return self._pool

    def request_stop(self) -> None:
        """Start no new unit of work; those in flight finish their writes."""
        self._stopping.set()

    def _replace_broken_pool(self, broken: Executor) -> None:
        """Forget a pool whose worker died; the next request starts a new one."""
        with self._pool_lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None

