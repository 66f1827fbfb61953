"""What every unit of work shares: settings, the engine, the HTTP client, the
extraction processes, the locks. The units are mixed into :class:`Pipeline`.

The extraction processes are started with the ``forkserver`` method: a fresh
interpreter, with no thread and none of the database or HTTP libraries, imports
:mod:`monitor.pipeline.preload` (trafilatura, the language model, one sample page
analysed) and every worker is forked from it. So the workers share those pages
copy-on-write instead of each loading its own copy, a new worker (after one died)
starts in milliseconds, and no process is ever forked from the multi-threaded main
process. ``max_tasks_per_child`` is not used: on Python 3.11 a pool using it
deadlocks once a worker retires (CPython gh-115634).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.fetching import Fetcher
from storage.db import make_engine

log = logging.getLogger("monitor.pipeline")


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
                self._pool = _start_pool(self.workers)
            return self._pool

    def start_workers(self) -> None:
        """Start the extraction processes in the background, without waiting: a pass
        calls this before fetching its sources, so that the fork server imports and
        warms up while the feeds download (starting it takes a second or two)."""
        pool = self._extractor()
        if pool is not None:
            threading.Thread(target=_start_processes, args=(pool, self.workers),
                             name="start-workers", daemon=True).start()

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


#: The module the fork server of the extraction processes imports (see above).
PRELOAD = "monitor.pipeline.preload"


def _start_pool(workers: int) -> ProcessPoolExecutor:
    try:
        context = get_context("forkserver")
    except ValueError:  # a platform without it (Windows): each worker imports its own
        return ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    # Used when this process starts its fork server, i.e. by the first pool.
    context.set_forkserver_preload([PRELOAD])
    return ProcessPoolExecutor(workers, mp_context=context)


def _start_processes(pool: Executor, count: int) -> None:
    """One trivial task per process: the pool starts them all (each submit waits for
    its process to be forked, and the first for the fork server to be ready)."""
    try:
        for _ in range(count):
            pool.submit(os.getpid)
    except (RuntimeError, BrokenProcessPool) as exc:  # closed meanwhile, or a worker died
        log.debug("extraction processes not started ahead: %s", exc)
