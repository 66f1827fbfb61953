"""Process an item: the second unit of work (see :mod:`monitor.pipeline`)."""

from __future__ import annotations

import logging
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from typing import Literal

from monitor import dedupe, extraction
from monitor.errors import DropItem, ExtractionError, FetchError
from monitor.pipeline.analysis import Analysis, analyse_page, fingerprint
from monitor.pipeline.base import PipelineBase
from monitor.pipeline.sources import PAGE_ACCEPT
from monitor.types import ItemResult
from storage import repository as repo
from storage.db import session_scope
from storage.models import ItemStatus, utcnow

log = logging.getLogger("monitor.pipeline")


class ItemUnit(PipelineBase):
    """Fetch, extract, dedupe and store one item; mixed into :class:`Pipeline`."""

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
            # the feed's date is kept over the page's (store_article): none looked for then
            analysis = self._analyse(url, find_date=published is None)
        except (FetchError, ExtractionError) as page_error:
            try:
                analysis = fingerprint(extraction.article_from_entry(
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

    def _analyse(self, url: str, *, find_date: bool) -> Analysis:
        if not self.settings.fetch.fetch_articles:
            raise ExtractionError("article fetching is switched off (fetch.fetch_articles)")
        page = self.fetcher.fetch(url, accept=PAGE_ACCEPT)
        for attempt in (1, 2):
            pool = self._extractor()
            if pool is None:
                return analyse_page(page.content, page.headers, page.final_url, find_date)
            try:
                return pool.submit(analyse_page, page.content, dict(page.headers),
                                   page.final_url, find_date).result()
            except BrokenProcessPool:
                # A worker died (killed, out of memory): start a new pool, try once more.
                self._replace_broken_pool(pool)
                log.warning("extraction worker died; new pool (attempt %d for %s)", attempt, url)
        raise ExtractionError("extraction workers keep dying on this page")

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


def _status(value: str) -> Literal["done", "duplicate", "failed", "dropped"]:
    if value == ItemStatus.DUPLICATE:
        return "duplicate"
    if value == ItemStatus.FAILED:
        return "failed"
    return "done"
