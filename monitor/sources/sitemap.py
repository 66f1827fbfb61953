"""Sitemaps: ``<urlset>`` with ``<loc>``, ``<lastmod>`` and the Google News extension.

gzip-compressed bytes are decompressed (up to :data:`MAX_DECOMPRESSED`). The XML
parser resolves no entities and loads no DTD or network resource, so an
``<!ENTITY x SYSTEM "file:///etc/passwd">`` stays an unexpanded reference whose
text is ignored. A ``<sitemapindex>`` is refused with the sitemaps it lists.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from monitor.errors import ParseError
from monitor.sources import (
    MAX_ENTRIES,
    WarningLog,
    clean_href,
    collapse_ws,
    is_http_url,
    language_code,
    parse_iso_datetime,
)
from monitor.types import Entry, ParsedSource

__all__ = ["MAX_DECOMPRESSED", "parse_sitemap"]

#: Cap on a gzipped sitemap once decompressed (the sitemap protocol's limit is 50 MB).
MAX_DECOMPRESSED = 50 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"


def parse_sitemap(content: bytes, headers: Mapping[str, str], *, base_url: str) -> ParsedSource:
    """The URLs of a (news) sitemap, with title, date and language where given.

    More than :data:`~monitor.sources.MAX_ENTRIES` URLs: the newest are kept, with a
    warning. Raises :class:`ParseError` for a sitemap index, a document that is no
    sitemap, or gzip data that is broken or too large.
    """
    log = WarningLog()
    data = _gunzip(content, log) if content.startswith(_GZIP_MAGIC) else content
    root = _parse_xml(data, log)
    name = _local(root)
    if name == "sitemapindex":
        children = [_text(loc) for sm in _children(root, "sitemap") for loc in _children(sm, "loc")]
        first = ", ".join(u for u in children[:3] if u) or "none listed"
        raise ParseError(
            f"a sitemap index, not a news sitemap: point the source at one of its "
            f"{len(children)} sitemaps: {first}"
        )
    if name != "urlset":
        raise ParseError(_not_a_sitemap(name))

    entries: list[Entry] = []
    seen: set[str] = set()
    bad_dates = 0
    title = ""
    for index, element in enumerate(_children(root, "url"), 1):
        loc = next((_text(e) for e in _children(element, "loc")), "")
        if not loc:
            log.add(f"<url> {index} skipped: no <loc>")
            continue
        url = urljoin(base_url, clean_href(loc))
        if not is_http_url(url):
            log.add(f"<url> {index} skipped: not an http(s) URL: {loc[:80]!r}")
            continue
        if url in seen:
            continue
        seen.add(url)
        news = next(_children(element, "news"), None)
        publication = next(_children(news, "publication"), None) if news is not None else None
        published, unreadable = _date(news, element)
        bad_dates += unreadable
        if publication is not None and not title:
            title = collapse_ws(_child_text(publication, "name"))
        entries.append(
            Entry(
                url=url,
                guid=url,
                title=collapse_ws(_child_text(news, "title")) if news is not None else "",
                published=published,
                language=language_code(_child_text(publication, "language"))
                if publication is not None
                else None,
            )
        )
    if bad_dates:
        log.add(f"{bad_dates} unreadable dates in <lastmod> or <news:publication_date>")
    if len(entries) > MAX_ENTRIES:
        log.add(f"sitemap has {len(entries)} URLs; kept the {MAX_ENTRIES} newest")
        entries = _newest(entries)[:MAX_ENTRIES]
    return ParsedSource(tuple(entries), log.result(), title)


def _date(news: Any, url_element: Any) -> tuple[datetime | None, int]:
    """The publication date, else ``lastmod``; and how many dates could not be read."""
    unreadable = 0
    candidates = [_child_text(news, "publication_date")] if news is not None else []
    candidates.append(_child_text(url_element, "lastmod"))
    for value in candidates:
        if value.strip():
            parsed = parse_iso_datetime(value)
            if parsed is not None:
                return parsed, unreadable
            unreadable += 1
    return None, unreadable


def _newest(entries: list[Entry]) -> list[Entry]:
    dated = [e for e in entries if e.published is not None]
    dated.sort(key=lambda e: e.published.timestamp() if e.published else 0.0, reverse=True)
    return dated + [e for e in entries if e.published is None]


def _gunzip(content: bytes, log: WarningLog) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(content, MAX_DECOMPRESSED + 1)
    except zlib.error as exc:
        raise ParseError(f"not a sitemap: broken gzip data: {exc}") from exc
    if len(data) > MAX_DECOMPRESSED:
        raise ParseError(f"gzipped sitemap is larger than {MAX_DECOMPRESSED} bytes decompressed")
    if not decompressor.eof:
        if not data:
            raise ParseError("not a sitemap: broken gzip data (nothing could be decompressed)")
        log.add("gzip data is truncated; read what was there")
    return data


def _parse_xml(data: bytes, log: WarningLog) -> Any:
    """The root element; a broken document is read in recovery mode, with a warning."""
    if not data.strip():
        raise ParseError("not a sitemap: the document is empty")
    options: dict[str, Any] = {
        "resolve_entities": False, "no_network": True, "load_dtd": False,
        "dtd_validation": False, "huge_tree": False, "remove_comments": True,
        "remove_pis": True,
    }
    try:
        return etree.fromstring(data, etree.XMLParser(**options))
    except etree.XMLSyntaxError as exc:
        error = exc
    try:
        root = etree.fromstring(data, etree.XMLParser(recover=True, **options))
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None or _local(root) not in ("urlset", "sitemapindex"):
        name = _local(root) if root is not None else ""
        if name:
            raise ParseError(_not_a_sitemap(name)) from error
        raise ParseError(f"not a sitemap: not XML ({error}); starts {data[:48]!r}") from error
    log.add(f"sitemap is not well-formed XML, read what could be recovered: {error}")
    return root


def _not_a_sitemap(name: str) -> str:
    hint = {
        "rss": ": it is an RSS feed, use kind = \"feed\"",
        "feed": ": it is an Atom feed, use kind = \"feed\"",
        "RDF": ": it is an RSS 1.0 feed, use kind = \"feed\"",
        "html": ": it is an HTML page, use kind = \"page\"",
    }.get(name, "")
    return f"not a sitemap: the root element is <{name}>, not <urlset>{hint}"


def _local(element: Any) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(parent: Any, name: str) -> Any:
    """Child elements with this local name, whatever their namespace."""
    return (c for c in parent if isinstance(c.tag, str) and _local(c) == name)


def _text(element: Any) -> str:
    """The element's own text nodes; unexpanded entity references are left out."""
    return "".join(str(t) for t in element.xpath("text()")).strip()


def _child_text(parent: Any, name: str) -> str:
    return next((_text(c) for c in _children(parent, name)), "")
