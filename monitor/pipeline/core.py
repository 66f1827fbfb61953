"""The two units of work, and the one place where stages are composed.

* :meth:`Pipeline.fetch_source` takes a source id, fetches and parses the source,
  stores the entries it has not seen and the fetch state; it returns a
  :class:`~monitor.types.SourceOutcome` or raises a :class:`~monitor.errors.MonitorError`.
* :meth:`Pipeline.process_item` takes an item id, fetches the article page,
  extracts the text (in a worker process), dedupes and stores it.

Both read their inputs from the database and write their results there, so the
same functions can run as tasks of a distributed queue later. Batches
(:meth:`Pipeline.update_sources`, :meth:`Pipeline.run_once`) yield one result per
source, value or error: one bad source never stops a run.
"""


from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from monitor.errors import MonitorError
from monitor.pipeline.items import ItemUnit
from monitor.pipeline.labels import LabelUnit
from monitor.pipeline.notify import NotifyUnit
from monitor.pipeline.sources import SourceUnit
from monitor.types import ItemResult, RunReport, SourceResult, SourceSpec
from storage import repository as repo
from storage.db import migrate, session_scope
from storage.models import SourceCreate, utcnow

log = logging.getLogger("monitor.pipeline")


def spec_to_create(spec: SourceSpec, *, origin: str = "config") -> SourceCreate:
    return SourceCreate(
        name=spec.name, url=spec.url, kind=spec.kind, language=spec.language,
        interval=spec.interval, enabled=spec.enabled, note=spec.note,
        link_selector=spec.link_selector, link_pattern=spec.link_pattern, origin=origin,
    )


Progress = Callable[[str, int], None]  # (phase, count done so far)


class Pipeline(SourceUnit, ItemUnit, LabelUnit, NotifyUnit):
    """Facade over the stages: fetching, parsing, extraction, dedupe, tagging, storage,
    alerts and digests.

    ``workers`` is the number of extraction processes (default
    ``schedule.extraction_workers``, 0 meaning one per core); 1 extracts in the
    calling thread, with no worker process.
    """

    def prepare(self) -> None:
        """Bring the schema up to date and store the configured sources."""
        migrate(self.engine)
        specs = [spec_to_create(s) for s in self.settings.all_sources()]
        with session_scope(self.engine) as session:
            repo.sync_sources(specs, session=session)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update_sources(
        self, source_ids: Iterable[int], *, progress: Progress | None = None
    ) -> Iterator[SourceResult]:
        """Fetch sources concurrently; one result per source, value or error."""
        ids = list(source_ids)
        names = self._names(ids)
        threads = min(self.settings.fetch.max_concurrency, max(1, len(ids)))
        with ThreadPoolExecutor(threads, thread_name_prefix="fetch") as pool:
            futures = {pool.submit(self.fetch_source, sid): sid for sid in ids}
            for done, future in enumerate(as_completed(futures), 1):
                if future.cancelled():
                    continue
                if self._stopping.is_set():
                    for other in futures:
                        other.cancel()
                sid = futures[future]
                try:
                    yield SourceResult(sid, names.get(sid, str(sid)), value=future.result())
                except MonitorError as exc:
                    yield SourceResult(sid, names.get(sid, str(sid)), error=exc)
                if progress:
                    progress("sources", done)

    def process_items(
        self, item_ids: Iterable[int], *, progress: Progress | None = None
    ) -> Iterator[ItemResult]:
        """Process items concurrently (network in threads, extraction in processes)."""
        ids = list(item_ids)
        if not ids:
            return
        threads = min(self.settings.fetch.max_concurrency + self.workers, len(ids))
        with ThreadPoolExecutor(threads, thread_name_prefix="item") as pool:
            futures = [pool.submit(self.process_item, i) for i in ids]
            for done, future in enumerate(as_completed(futures), 1):
                if future.cancelled():
                    continue
                yield future.result()
                if progress:
                    progress("items", done)
                if self._stopping.is_set():
                    for other in futures:
                        other.cancel()  # not started: stays pending for the next run

    def pending(self, *, limit: int = 100_000) -> list[int]:
        with session_scope(self.engine) as session:
            return repo.pending_items(session=session, limit=limit,
                                      max_attempts=self.settings.schedule.max_item_attempts)

    def due(self, *, all_sources: bool = False) -> list[int]:
        with session_scope(self.engine) as session:
            if all_sources:
                rows = [s for s in repo.list_sources(session=session) if s.enabled]
            else:
                rows = repo.due_sources(utcnow(), session=session)
            return [s.id for s in rows if s.id is not None]

    def run_once(self, *, all_sources: bool = False, progress: Progress | None = None,
                 on_source: Callable[[SourceResult], None] | None = None) -> RunReport:
        """One pass: fetch the due sources (or all), then process every pending item,
        including those a previous, interrupted pass left behind, tagging the stored
        items batch by batch meanwhile.

        As soon as there are items to process (left pending, or new in the first
        source that has some), the extraction processes and the classifier's model
        start loading in the background, while the other feeds download; a pass
        that finds nothing new starts neither."""
        started = False
        if self.pending(limit=1):
            started = self._start_ahead()
        sources = []
        for result in self.update_sources(self.due(all_sources=all_sources), progress=progress):
            sources.append(result)
            if on_source:
                on_source(result)
            if not started and result.value is not None and result.value.new_items:
                started = self._start_ahead()
        items = tuple(self.tag_while_storing(self.process_items(self.pending(),
                                                                progress=progress)))
        self.classify_quietly()  # the last, partial batch
        self.wait_for_model()
        return RunReport(sources=tuple(sources), items=items)

    def _start_ahead(self) -> bool:
        self.start_workers()
        self.load_model_ahead()
        return True

    def _names(self, ids: list[int]) -> dict[int, str]:
        with session_scope(self.engine) as session:
            wanted = set(ids)
            return {s.id: s.name for s in repo.list_sources(session=session, include_removed=True)
                    if s.id is not None and s.id in wanted}


