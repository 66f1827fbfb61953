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
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing import get_context
from typing import Literal

from sqlalchemy.engine import Engine

from monitor import dedupe, extraction
from monitor.config import Settings
from monitor.errors import (
    DropItem,
    ExtractionError,
    FetchError,
    GoneError,
    MonitorError,
    RateLimitedError,
    SourceError,
)
from monitor.fetching import Fetcher, backoff_delay
from monitor.sources import parse_source
from monitor.types import (
    Article,
    Entry,
    FetchResult,
    ItemResult,
    ParsedSource,
    RunReport,
    SourceKind,
    SourceOutcome,
    SourceResult,
    SourceSpec,
    Validators,
)
from storage import repository as repo
from storage.db import make_engine, migrate, session_scope
from storage.models import ItemCreate, ItemStatus, SourceCreate, utcnow

__all__ = ["Analysis", "Pipeline", "analyse_page", "spec_to_create"]

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True, slots=True)
class Analysis:
    """An article and its fingerprints, computed together in a worker process."""

    article: Article
    content_hash: str
    signature: bytes
    bands: tuple[int, ...]
    words: int


def analyse_page(content: bytes, headers: Mapping[str, str], url: str) -> Analysis:
    """Extract and fingerprint one page (runs in a worker process; must pickle)."""
    return _fingerprint(extraction.extract_article(content, headers, url=url))


def _fingerprint(article: Article) -> Analysis:
    signature = dedupe.text_signature(article.text)
    return Analysis(
        article=article,
        content_hash=dedupe.content_hash(article.text),
        signature=signature,
        bands=tuple(dedupe.signature_bands(signature)),
        words=dedupe.word_count(article.text),
    )


@dataclass(frozen=True, slots=True)
class _SourceSnapshot:
    """What a fetch needs of a source row, read in one short transaction."""

    name: str
    url: str
    kind: SourceKind
    etag: str | None
    last_modified: str | None
    error_streak: int
    interval: float | None
    link_selector: str | None
    link_pattern: str | None
    language: str | None


def _to_create(entry: Entry, language: str | None) -> tuple[str, ItemCreate]:
    """An entry as an item row, keyed by its GUID in the source."""
    return entry.guid or entry.url, ItemCreate(
        canonical_url=dedupe.canonical_url(entry.url), url=entry.url, title=entry.title[:1000],
        summary=entry.summary, feed_content=entry.content, author=entry.author[:500],
        language_hint=entry.language or language, published_at=entry.published,
    )


def spec_to_create(spec: SourceSpec, *, origin: str = "config") -> SourceCreate:
    return SourceCreate(
        name=spec.name, url=spec.url, kind=spec.kind, language=spec.language,
        interval=spec.interval, enabled=spec.enabled, note=spec.note,
        link_selector=spec.link_selector, link_pattern=spec.link_pattern, origin=origin,
    )


Progress = Callable[[str, int], None]  # (phase, count done so far)


class Pipeline:
    """Facade over the stages: fetching, parsing, extraction, dedupe, storage.

    ``workers`` is the number of extraction processes (default
    ``schedule.extraction_workers``, 0 meaning one per core); 1 extracts in the
    calling thread, with no worker process.
    """

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

    # ------------------------------------------------------------------ lifecycle

    def prepare(self) -> None:
        """Bring the schema up to date and store the configured sources."""
        migrate(self.engine)
        specs = [spec_to_create(s) for s in self.settings.all_sources()]
        with session_scope(self.engine) as session:
            repo.sync_sources(specs, session=session)

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher(self.settings.fetch)
        return self._fetcher

    def _extractor(self) -> Executor | None:
        if self.workers <= 1:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        return self._pool

    def request_stop(self) -> None:
        """Start no new unit of work; those in flight finish their writes."""
        self._stopping.set()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ fetch a source

    def fetch_source(self, source_id: int) -> SourceOutcome:
        """Fetch, parse and store one source. Raises MonitorError on failure, after
        recording it on the source (error streak, back-off, 410 disables)."""
        snap = self._snapshot(source_id)
        started = utcnow()
        try:
            result, parsed = self._fetch_and_parse(
                snap, Validators(snap.etag, snap.last_modified))
        except MonitorError as exc:
            self._record_failure(source_id, exc, started=started, streak=snap.error_streak)
            log.warning("source %s: %s", snap.name, exc)
            raise
        duration = (utcnow() - started).total_seconds()
        entries = [_to_create(e, snap.language) for e in (parsed.entries if parsed else ())]
        warnings = parsed.warnings if parsed else ()
        every = self.settings.interval_of_value(snap.interval)
        with session_scope(self.engine) as session:
            new_ids, seen = repo.insert_items(source_id, entries, session=session, now=started)
            repo.record_fetch_success(
                source_id, session=session, now=started, http_status=result.status,
                etag=result.validators.etag, last_modified=result.validators.last_modified,
                next_attempt_at=started + timedelta(seconds=every),
                new_url=result.permanent_redirect, new_items=len(new_ids),
            )
            repo.add_fetch_log(repo.FetchRecord(
                source_id=source_id, started_at=started, duration_ms=int(duration * 1000),
                outcome="not_modified" if result.not_modified else "ok",
                http_status=result.status, bytes=len(result.content), new_items=len(new_ids),
                error=("warnings: " + "; ".join(warnings))[:2000] if warnings else None,
            ), session=session)
        if warnings:
            log.warning("source %s: parsed with warnings: %s", snap.name, "; ".join(warnings)[:500])
        if result.permanent_redirect and result.permanent_redirect != snap.url:
            log.info("source %s: moved permanently to %s", snap.name, result.permanent_redirect)
        log.info("source %s: %d new, %d seen, HTTP %d", snap.name, len(new_ids), seen,
                 result.status)
        return SourceOutcome(
            source_id, snap.name, result.status, new_items=len(new_ids), seen_items=seen,
            bytes=len(result.content), duration=duration, warnings=warnings,
            item_ids=tuple(new_ids), not_modified=result.not_modified,
        )

    def preview_source(self, source_id: int) -> tuple[SourceOutcome, list[tuple[Entry, bool]]]:
        """Fetch and parse a source now, unconditionally, storing nothing: what would
        be ingested, each entry with whether its URL is new to the database."""
        snap = self._snapshot(source_id)
        started = utcnow()
        result, parsed = self._fetch_and_parse(snap, Validators())
        entries = list(parsed.entries) if parsed else []
        urls = [dedupe.canonical_url(e.url) for e in entries]
        with session_scope(self.engine) as session:
            fresh = set(repo.unknown_urls(urls, session=session))
        outcome = SourceOutcome(
            source_id, snap.name, result.status, new_items=len(fresh),
            seen_items=len(set(urls)) - len(fresh), bytes=len(result.content),
            duration=(utcnow() - started).total_seconds(),
            warnings=parsed.warnings if parsed else (),
        )
        return outcome, [(e, u in fresh) for e, u in zip(entries, urls, strict=True)]

    def _snapshot(self, source_id: int) -> _SourceSnapshot:
        with session_scope(self.engine) as session:
            src = repo.get_source(source_id, session=session)
            if src.kind not in ("feed", "page", "sitemap"):
                raise SourceError(f"source {src.name}: unknown kind {src.kind!r}")
            return _SourceSnapshot(
                name=src.name, url=src.url, kind=src.kind, etag=src.etag,  # type: ignore[arg-type]
                last_modified=src.last_modified, error_streak=src.error_streak,
                interval=src.interval, link_selector=src.link_selector,
                link_pattern=src.link_pattern, language=src.language,
            )

    def _fetch_and_parse(
        self, snap: _SourceSnapshot, validators: Validators
    ) -> tuple[FetchResult, ParsedSource | None]:
        accept = PAGE_ACCEPT if snap.kind == "page" else FEED_ACCEPT
        result = self.fetcher.fetch(snap.url, validators=validators, accept=accept)
        if result.not_modified:
            return result, None
        parsed = parse_source(
            snap.kind, result.content, result.headers, base_url=result.final_url,
            link_selector=snap.link_selector, link_pattern=snap.link_pattern,
        )
        return result, parsed

    def _record_failure(
        self, source_id: int, exc: MonitorError, *, started: datetime, streak: int
    ) -> None:
        status = getattr(exc, "status", None)
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        delay = backoff_delay(streak + 1, self.settings.fetch, retry_after=retry_after)
        disable = "410 Gone: the server says this source no longer exists" if isinstance(
            exc, GoneError) else None
        with session_scope(self.engine) as session:
            repo.record_fetch_failure(
                source_id, session=session, now=started, error=f"{type(exc).__name__}: {exc}",
                next_attempt_at=started + timedelta(seconds=delay), http_status=status,
                disable_reason=disable,
            )
            repo.add_fetch_log(repo.FetchRecord(
                source_id=source_id, started_at=started,
                duration_ms=int((utcnow() - started).total_seconds() * 1000),
                outcome="error", http_status=status, error=f"{type(exc).__name__}: {exc}",
            ), session=session)

    # ------------------------------------------------------------------ process an item

    def process_item(self, item_id: int) -> ItemResult:
        """Fetch, extract, dedupe and store one item. Never raises for bad input:
        a failure is counted on the item and returned as a ``failed`` result."""
        with session_scope(self.engine) as session:
            item = repo.get_item(item_id, session=session)
            if item.status != ItemStatus.PENDING:
                method = item.method if item.method in ("page", "feed") else None
                return ItemResult(item_id, _status(item.status), method,  # type: ignore[arg-type]
                                  item.language, item.duplicate_of_id)
            url, title, summary = item.url, item.title, item.summary
            feed_content, author, hint = item.feed_content, item.author, item.language_hint
            published = item.published_at
        try:
            analysis = self._analyse(url)
        except (FetchError, ExtractionError) as page_error:
            try:
                analysis = _fingerprint(extraction.article_from_entry(
                    url=url, title=title, content=feed_content, summary=summary,
                    published=published, author=author, language_hint=hint,
                ))
                log.info("item %d: page unusable (%s); kept the feed's text", item_id, page_error)
            except ExtractionError as feed_error:
                return self._fail(item_id, f"page: {page_error}; feed: {feed_error}")
        try:
            return self._store(item_id, analysis)
        except DropItem as drop:
            log.info("item %d: dropped: %s", item_id, drop.reason)
            return ItemResult(item_id, "dropped", error=drop.reason)

    def _analyse(self, url: str) -> Analysis:
        if not self.settings.fetch.fetch_articles:
            raise ExtractionError("article fetching is switched off (fetch.fetch_articles)")
        page = self.fetcher.fetch(url, accept=PAGE_ACCEPT)
        pool = self._extractor()
        if pool is None:
            return analyse_page(page.content, page.headers, page.final_url)
        return pool.submit(analyse_page, page.content, dict(page.headers), page.final_url).result()

    def _store(self, item_id: int, analysis: Analysis) -> ItemResult:
        article = analysis.article
        dd = self.settings.dedupe
        with self._store_lock, session_scope(self.engine) as session:
            original = repo.find_by_content_hash(
                analysis.content_hash, session=session, exclude_id=item_id)
            if original is None and analysis.words >= dd.min_words:
                since = utcnow() - timedelta(days=dd.window_days)
                for other_id, other_sig in repo.near_duplicate_candidates(
                    analysis.bands, session=session, exclude_id=item_id, since=since,
                ):
                    if dedupe.is_near_duplicate(analysis.signature, other_sig,
                                                threshold=dd.near_duplicate_threshold):
                        original = other_id
                        break
            if original is not None:
                repo.mark_duplicate(item_id, original, session=session)
                log.info("item %d: duplicate of item %d", item_id, original)
                return ItemResult(item_id, "duplicate", article.method, article.language,
                                  duplicate_of=original)
            repo.store_article(
                item_id, session=session, text=article.text, method=article.method,
                content_hash=analysis.content_hash, minhash=analysis.signature,
                bands=analysis.bands, title=article.title[:1000], author=article.author[:500],
                sitename=article.sitename[:500], language=article.language,
                published_at=article.published,
            )
        log.debug("item %d: stored (%s, %s)", item_id, article.method, article.language)
        return ItemResult(item_id, "done", article.method, article.language)

    def _fail(self, item_id: int, error: str) -> ItemResult:
        with session_scope(self.engine) as session:
            item = repo.mark_item_failed(item_id, error[:2000], session=session,
                                         max_attempts=self.settings.schedule.max_item_attempts)
            final = item.status == ItemStatus.FAILED
        log.warning("item %d: %s%s", item_id, error[:300], " (giving up)" if final else "")
        return ItemResult(item_id, "failed", error=error)

    # ------------------------------------------------------------------ batches

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
        including those a previous, interrupted pass left behind."""
        sources = []
        for result in self.update_sources(self.due(all_sources=all_sources), progress=progress):
            sources.append(result)
            if on_source:
                on_source(result)
        items = tuple(self.process_items(self.pending(), progress=progress))
        return RunReport(sources=tuple(sources), items=items)

    def _names(self, ids: list[int]) -> dict[int, str]:
        with session_scope(self.engine) as session:
            return {s.id: s.name for s in repo.list_sources(session=session, include_removed=True)
                    if s.id is not None and s.id in set(ids)}


def _status(value: str) -> Literal["done", "duplicate", "failed", "dropped"]:
    if value == ItemStatus.DUPLICATE:
        return "duplicate"
    if value == ItemStatus.FAILED:
        return "failed"
    return "done"
