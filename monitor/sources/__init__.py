"""Source parsers: bytes and headers in, entries out. They never see a URL to fetch.

:func:`parse_source` picks the parser for a source's ``kind``:

* ``feed``: RSS 0.9x/1.0/2.0, Atom and JSON Feed (:mod:`monitor.sources.feed`);
* ``page``: article links on an HTML listing page (:mod:`monitor.sources.page`);
* ``sitemap``: a (Google News) sitemap, plain or gzipped (:mod:`monitor.sources.sitemap`).

Every parser raises :class:`~monitor.errors.ParseError` for bytes it cannot read
at all, and reports what it had to skip in ``ParsedSource.warnings``. A bad
``link_selector`` or ``link_pattern`` is a :class:`~monitor.errors.SourceError`.

This module also holds the small helpers the three parsers share; the parser
modules are imported when first used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from monitor.types import ParsedSource, SourceKind

__all__ = ["MAX_ENTRIES", "parse_source"]

#: Entries kept from one parse; the rest are dropped with a warning.
MAX_ENTRIES = 1000
#: Warnings kept from one parse; the rest are summed up in a last warning.
MAX_WARNINGS = 50


def parse_source(
    kind: SourceKind,
    content: bytes,
    headers: Mapping[str, str],
    *,
    base_url: str,
    link_selector: str | None = None,
    link_pattern: str | None = None,
) -> ParsedSource:
    """Parse the bytes of one source with the parser for ``kind``.

    ``headers`` are the response headers (lower-case names); ``base_url`` is the
    final URL the bytes came from. ``link_selector`` and ``link_pattern`` only
    apply to ``page`` sources.
    """
    if kind == "feed":
        from monitor.sources.feed import parse_feed

        return parse_feed(content, headers, base_url=base_url)
    if kind == "page":
        from monitor.sources.page import parse_page

        return parse_page(
            content, headers, base_url=base_url,
            link_selector=link_selector, link_pattern=link_pattern,
        )
    if kind == "sitemap":
        from monitor.sources.sitemap import parse_sitemap

        return parse_sitemap(content, headers, base_url=base_url)
    raise ValueError(f"unknown source kind {kind!r}")  # a bug: SourceKind is checked by config


# --------------------------------------------------------------------------- shared helpers


class WarningLog:
    """Collects a parse's warnings, keeping at most ``MAX_WARNINGS`` of them."""

    def __init__(self, limit: int = MAX_WARNINGS) -> None:
        self.limit = limit
        self.kept: list[str] = []
        self.dropped = 0

    def add(self, message: str) -> None:
        if len(self.kept) < self.limit:
            self.kept.append(message)
        else:
            self.dropped += 1

    def result(self) -> tuple[str, ...]:
        if self.dropped:
            return (*self.kept, f"... and {self.dropped} more warnings")
        return tuple(self.kept)


def normalize_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with lower-case names (callers should already send them so)."""
    return {k.lower(): v for k, v in headers.items()}


def media_type(headers: Mapping[str, str]) -> str:
    """The bare media type of ``content-type``, lower case: ``application/rss+xml``."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def header_charset(headers: Mapping[str, str]) -> str | None:
    """The ``charset`` parameter of ``content-type``, if any."""
    match = re.search(r"""charset\s*=\s*["']?([\w.:-]+)""", headers.get("content-type", ""), re.I)
    return match.group(1) if match else None


_WS_RE = re.compile(r"\s+")


def collapse_ws(text: str) -> str:
    """Runs of whitespace become one space; ends are stripped."""
    return _WS_RE.sub(" ", text).strip()


def is_http_url(url: str) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    return re.match(r"https?://[^/?#\s]", url, re.I) is not None


def clean_href(href: str) -> str:
    """An href as a browser reads it: ends stripped, tabs and newlines removed."""
    return re.sub(r"[\t\n\r]", "", href.strip())


def language_code(value: object) -> str | None:
    """``en-US`` -> ``en``: the first two letters, lower case, or ``None``."""
    if not isinstance(value, str):
        return None
    match = re.match(r"\s*([A-Za-z]{2})(?![A-Za-z])", value)
    return match.group(1).lower() if match else None


_W3C_PARTIAL_RE = re.compile(r"(\d{4})(?:-(\d{2}))?$")


def parse_iso_datetime(value: str) -> datetime | None:
    """A W3C / RFC 3339 date-time as an aware UTC datetime, or ``None`` if unreadable.

    Accepts ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` and full date-times with ``Z`` or
    an offset; a date-time without an offset is taken as UTC.
    """
    text = value.strip()
    if not text:
        return None
    partial = _W3C_PARTIAL_RE.match(text)
    try:
        if partial:
            parsed = datetime(int(partial.group(1)), int(partial.group(2) or 1), 1)
        else:
            # Python 3.11 reads "Z" and most ISO 8601 forms; a lower-case "t"/"z" too.
            parsed = datetime.fromisoformat(text.upper() if len(text) > 10 else text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None
