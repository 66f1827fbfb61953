"""Feeds: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed 1.0/1.1 by hand.

feedparser only ever gets the bytes (wrapped in a stream, so it can never read a
file or fetch a URL) and the response headers, like ``reader``'s parser does.
The document location goes in as ``content-location`` so relative links resolve.
Entities: feedparser drops ``<!ENTITY>`` declarations that are not plain literals,
its SAX parser never loads external entities and expat refuses entity
amplification; a document that fails goes to feedparser's loose parser, which
expands nothing but plain literals. The tests check file:// and billion-laughs
attempts.
"""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html
from lxml import etree
from lxml_html_clean import Cleaner

from monitor.errors import ParseError
from monitor.sources import (
    MAX_ENTRIES,
    WarningLog,
    clean_href,
    collapse_ws,
    is_http_url,
    language_code,
    media_type,
    normalize_headers,
    parse_iso_datetime,
)
from monitor.types import Entry, ParsedSource

__all__ = ["html_to_text", "parse_feed"]

_JSON_TYPES = frozenset({"application/feed+json", "application/json"})
_BLOCK_TAGS = (
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre",
    "section", "table", "td", "th", "tr", "ul",
)


class _SkipEntry(Exception):
    """An entry that cannot be kept; the message becomes a warning."""


def parse_feed(content: bytes, headers: Mapping[str, str], *, base_url: str) -> ParsedSource:
    """Read an RSS, Atom or JSON feed.

    Entries that cannot be kept (no usable link, a non-http(s) link) are skipped
    with a warning; a feed that is not well-formed yields what could be read plus a
    warning. Raises :class:`ParseError` only when the bytes are no feed at all.
    """
    hdrs = normalize_headers(headers)
    body = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    mtype = media_type(hdrs)
    if body.startswith((b"{", b"[")):  # JSON, never XML: a JSON Feed or no feed at all
        return _parse_json_feed(content, hdrs, base_url, by_type=mtype in _JSON_TYPES)
    if mtype in _JSON_TYPES and not body.startswith(b"<"):
        raise ParseError(f"content-type {mtype} but the body is not JSON: starts {content[:40]!r}")
    return _parse_xml_feed(content, hdrs, base_url)


# --------------------------------------------------------------------------- RSS and Atom


def _parse_xml_feed(content: bytes, headers: dict[str, str], base_url: str) -> ParsedSource:
    location = base_url
    if headers.get("content-location"):
        location = urljoin(base_url, clean_href(headers["content-location"]))
    # Without a content-type feedparser calls any feed bozo; application/xml with no
    # charset means what no headers mean: the XML declaration (or a BOM) decides.
    response_headers = {"content-type": "application/xml", **headers}
    response_headers["content-location"] = location
    try:
        result: Any = feedparser.parse(
            io.BytesIO(content),
            response_headers=response_headers,
            resolve_relative_uris=True,
            sanitize_html=True,
        )
    except Exception as exc:  # feedparser on hostile bytes: any crash is a parse failure
        raise ParseError(f"feedparser failed: {type(exc).__name__}: {exc}") from exc

    version = result.get("version") or ""
    raw_entries: list[Any] = list(result.get("entries") or [])
    problem = result.get("bozo_exception") if result.get("bozo") else None
    if not version and not raw_entries:
        raise ParseError(_not_a_feed(content, headers, problem))

    log = WarningLog()
    if problem is not None:
        log.add(f"feed is not well-formed, kept what could be read: {_describe(problem)}")
    feed: Any = result.get("feed") or {}
    feed_lang = language_code(feed.get("language")) or language_code(
        headers.get("content-language")
    )
    if len(raw_entries) > MAX_ENTRIES:
        log.add(f"feed has {len(raw_entries)} entries; kept the first {MAX_ENTRIES}")
        raw_entries = raw_entries[:MAX_ENTRIES]

    entries: list[Entry] = []
    for index, raw in enumerate(raw_entries, 1):
        try:
            entries.append(_xml_entry(raw, location, feed_lang))
        except _SkipEntry as skip:
            log.add(f"entry {index} skipped: {skip}")
    return ParsedSource(tuple(entries), log.result(), _text_of(feed, "title"))


def _xml_entry(raw: Any, base: str, feed_lang: str | None) -> Entry:
    title = _text_of(raw, "title")
    guid = _str(raw.get("id"))
    link = _str(raw.get("link"))
    url = _entry_url(link, guid, base, title)

    contents = [_str(c.get("value")) for c in raw.get("content") or () if isinstance(c, Mapping)]
    summary_html = _str(raw.get("summary"))
    body = max(contents, key=len) if any(contents) else summary_html

    published = _from_struct(dict.get(raw, "published_parsed")) or _from_struct(
        dict.get(raw, "updated_parsed")
    )
    detail = raw.get("author_detail")
    author = _str(detail.get("name")) if isinstance(detail, Mapping) else ""
    author = _author_name(author or html_to_text(_str(raw.get("author"))))

    language = None
    for key in ("title_detail", "summary_detail"):
        value = raw.get(key)
        if isinstance(value, Mapping) and (language := language_code(value.get("language"))):
            break
    if language is None:
        for c in raw.get("content") or ():
            if isinstance(c, Mapping) and (language := language_code(c.get("language"))):
                break
    return Entry(
        url=url,
        guid=guid or url,
        title=title,
        summary=_plain(summary_html, raw.get("summary_detail")),
        content=body,
        published=published,
        author=author,
        language=language or feed_lang,
    )


def _author_name(value: str) -> str:
    """RSS's ``mail@example.org (Name)`` as ``Name``."""
    match = re.fullmatch(r"\s*\S+@\S+\s*\((.+)\)\s*", value)
    return collapse_ws(match.group(1) if match else value)


def _text_of(thing: Any, key: str) -> str:
    """A feedparser text construct as plain text, tags stripped when it is HTML."""
    return _plain(_str(thing.get(key)), thing.get(f"{key}_detail"))


def _plain(value: str, detail: Any) -> str:
    kind = detail.get("type", "") if isinstance(detail, Mapping) else "text/html"
    if isinstance(kind, str) and "html" not in kind:
        return collapse_ws(value)
    return html_to_text(value)


def _from_struct(value: object) -> datetime | None:
    """feedparser's struct_time (always UTC) as an aware datetime."""
    if not isinstance(value, time.struct_time | tuple) or len(value) < 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in value[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _describe(exc: object) -> str:
    return f"{type(exc).__name__}: {collapse_ws(str(exc))[:300]}"


def _not_a_feed(content: bytes, headers: Mapping[str, str], problem: object) -> str:
    head = content[:4096].lower()
    mtype = media_type(headers) or "none"
    if not content.strip():
        return "not a feed: the document is empty"
    if re.search(rb"<html[\s>]|<!doctype\s+html", head):
        return (
            f"not a feed but an HTML page (content-type {mtype}): use kind = \"page\", "
            "or point the source at the page's RSS/Atom link"
        )
    if re.search(rb"<(?:\w+:)?(?:urlset|sitemapindex)[\s>]", head):
        return "not a feed but a sitemap: use kind = \"sitemap\""
    why = f"; the parser said {_describe(problem)}" if problem is not None else ""
    return (
        f"not a feed: no RSS, Atom or JSON Feed found (content-type {mtype}, "
        f"starts {content[:48]!r}){why}"
    )


# --------------------------------------------------------------------------- JSON Feed


def _parse_json_feed(
    content: bytes, headers: Mapping[str, str], base_url: str, *, by_type: bool
) -> ParsedSource:
    try:
        data: Any = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not a feed: the body is not valid JSON: {_describe(exc)}") from exc
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ParseError(f"not a JSON Feed: the top level is a {kind}, not an object")
    log = WarningLog()
    version = data.get("version")
    if not (isinstance(version, str) and "jsonfeed.org/version/" in version):
        if not by_type:
            raise ParseError(
                "not a feed: JSON without a https://jsonfeed.org/version/... version "
                f"(content-type {media_type(headers) or 'none'})"
            )
        log.add(f"JSON Feed without a jsonfeed.org version ({version!r}); read it anyway")
    items = data.get("items")
    if not isinstance(items, list):
        raise ParseError("not a JSON Feed: no \"items\" list")
    if len(items) > MAX_ENTRIES:
        log.add(f"feed has {len(items)} items; kept the first {MAX_ENTRIES}")
        items = items[:MAX_ENTRIES]

    feed_lang = language_code(data.get("language")) or language_code(
        headers.get("content-language")
    )
    feed_author = _json_author(data)
    entries: list[Entry] = []
    for index, item in enumerate(items, 1):
        try:
            if not isinstance(item, dict):
                raise _SkipEntry(f"not an object but {type(item).__name__}")
            entries.append(_json_entry(item, base_url, feed_lang, feed_author))
        except _SkipEntry as skip:
            log.add(f"item {index} skipped: {skip}")
    return ParsedSource(tuple(entries), log.result(), collapse_ws(_str(data.get("title"))))


def _json_entry(
    item: dict[str, Any], base: str, feed_lang: str | None, feed_author: str
) -> Entry:
    raw_id = item.get("id")
    usable = isinstance(raw_id, str | int) and not isinstance(raw_id, bool)
    guid = str(raw_id).strip() if usable else ""
    title = collapse_ws(_str(item.get("title")))
    link = _str(item.get("url")) or _str(item.get("external_url"))
    url = _entry_url(link, guid, base, title)

    summary = collapse_ws(_str(item.get("summary")))
    candidates = [
        _sanitize(_str(item.get("content_html")), base),
        html.escape(_str(item.get("content_text"))),
    ]
    body = max(candidates, key=len) if any(candidates) else html.escape(summary)
    if not summary:
        summary = html_to_text(body)[:500]
    published = parse_iso_datetime(_str(item.get("date_published"))) or parse_iso_datetime(
        _str(item.get("date_modified"))
    )
    return Entry(
        url=url,
        guid=guid or url,
        title=title,
        summary=summary,
        content=body,
        published=published,
        author=_json_author(item) or feed_author,
        language=language_code(item.get("language")) or feed_lang,
    )


def _json_author(thing: Mapping[str, Any]) -> str:
    """JSON Feed 1.1 ``authors`` (the first named) or 1.0 ``author``."""
    authors = thing.get("authors")
    candidates = list(authors) if isinstance(authors, list) else []
    candidates.append(thing.get("author"))
    for author in candidates:
        if isinstance(author, Mapping) and (name := collapse_ws(_str(author.get("name")))):
            return name
    return ""


def _sanitize(value: str, base: str) -> str:
    """JSON Feed HTML made as safe as feedparser makes RSS/Atom HTML."""
    if not value.strip():
        return ""
    cleaner = Cleaner(
        scripts=True, javascript=True, comments=True, style=True, embedded=True,
        frames=True, forms=True, meta=True, page_structure=True, safe_attrs_only=True,
    )
    try:
        fragment = lxml.html.fragment_fromstring(value, create_parent="div")
        fragment.make_links_absolute(base, handle_failures="ignore")
        cleaned: str = cleaner.clean_html(etree.tostring(fragment, encoding="unicode"))
    except (etree.LxmlError, ValueError):
        return html.escape(html_to_text(value))
    match = re.fullmatch(r"\s*<div>(.*)</div>\s*", cleaned, re.S)
    return match.group(1) if match else cleaned


# --------------------------------------------------------------------------- shared


def _entry_url(link: str, guid: str, base: str, title: str) -> str:
    """The entry's absolute http(s) URL: its link, else an http(s) id; or skip it."""
    label = f" ({title[:60]!r})" if title else ""
    if link:
        url = urljoin(base, clean_href(link))
    elif is_http_url(guid):
        url = guid
    else:
        raise _SkipEntry(f"no link and no http(s) id{label}")
    if not is_http_url(url):
        raise _SkipEntry(f"not an http(s) link: {url[:80]!r}{label}")
    return url


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def html_to_text(value: str) -> str:
    """HTML (or plain text) as one line of plain text: tags gone, entities decoded."""
    if "<" not in value and "&" not in value:
        return collapse_ws(value)
    try:
        root = lxml.html.fragment_fromstring(value, create_parent="div")
    except (etree.LxmlError, ValueError):
        return collapse_ws(html.unescape(re.sub(r"<[^>]*>", " ", value)))
    etree.strip_elements(root, etree.Comment, "script", "style", with_tail=False)
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = " " + (element.tail or "")
        if element.tag != "br":
            element.text = " " + (element.text or "")
    return collapse_ws(root.text_content())
