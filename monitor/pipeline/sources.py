"""Fetch a source: the first unit of work (see :mod:`monitor.pipeline`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor import dedupe
from monitor.errors import GoneError, MonitorError, RateLimitedError, SourceError
from monitor.fetching import backoff_delay
from monitor.pipeline.base import PipelineBase
from monitor.sources import parse_source
from monitor.types import (
    Entry,
    FetchResult,
    ParsedSource,
    SourceKind,
    SourceOutcome,
    Validators,
)
from storage import repository as repo
from storage.db import session_scope
from storage.models import ItemCreate, utcnow

if TYPE_CHECKING:
    pass

log = logging.getLogger("monitor.pipeline")

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


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




class SourceUnit(PipelineBase):
    """Fetch, parse and store one source; mixed into :class:`Pipeline`."""

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
