"""Extract and fingerprint one page: the work of the extraction processes.

This module imports the extraction and dedupe stages and nothing else of the
service: no database, HTTP or classifier library. The worker processes that run
:func:`analyse_page` import only this (``monitor.pipeline``'s ``__init__`` imports
nothing eagerly), so they stay small and start fast. ``tests/test_architecture.py``
checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor import dedupe, extraction
from monitor.types import Article

__all__ = ["Analysis", "analyse_page", "fingerprint", "warm_up"]


@dataclass(frozen=True, slots=True)
class Analysis:
    """An article and its fingerprints, computed together in a worker process."""

    article: Article
    content_hash: str
    signature: bytes
    bands: tuple[int, ...]
    words: int


def analyse_page(
    content: bytes, headers: Mapping[str, str], url: str, find_date: bool = True
) -> Analysis:
    """Extract and fingerprint one page (runs in a worker process; must pickle).

    ``find_date=False`` when the caller has the date already (the feed's): the page's
    is then not looked for. Raises :class:`~monitor.errors.ExtractionError`.
    """
    return fingerprint(extraction.extract_article(content, headers, url=url,
                                                  find_date=find_date))


def fingerprint(article: Article) -> Analysis:
    """The fingerprints dedupe compares, for an article from a page or a feed."""
    signature = dedupe.text_signature(article.text)
    return Analysis(
        article=article,
        content_hash=dedupe.content_hash(article.text),
        signature=signature,
        bands=tuple(dedupe.signature_bands(signature)),
        words=dedupe.word_count(article.text),
    )


_SAMPLE_PARAGRAPH = (
    "The ministries of health of the two countries signed a memorandum on primary health "
    "care, the training of nurses and midwives, and the supply of vaccines to rural clinics. "
)
_SAMPLE_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sample | Example'
    '</title><meta property="og:title" content="Sample"><script type="application/ld+json">'
    '{"@type": "NewsArticle", "headline": "Sample", "datePublished": "2024-01-02"}</script>'
    "</head><body><nav><a href='/'>Home</a></nav><article><h1>Sample</h1>"
    + "".join(f"<p>{_SAMPLE_PARAGRAPH * (n + 1)}</p>" for n in range(4))
    + "</article><footer>Example</footer></body></html>"
).encode()


def warm_up() -> None:
    """Analyse one small page, so that what the libraries load on first use (the
    language model, trafilatura's and htmldate's tables, the dedupe hash seeds) is
    loaded now: before the extraction workers are forked, to be shared by them."""
    analyse_page(_SAMPLE_PAGE, {"content-type": "text/html; charset=utf-8"},
                 "https://example.org/2024/01/02/sample.html")
