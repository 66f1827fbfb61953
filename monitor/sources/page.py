"""Listing pages: article links on the HTML page of a site that has no feed.

Links are picked by ``link_selector`` (CSS: the ``<a>`` itself or a container of
``<a>``s), by ``link_pattern`` (a regular expression searched in the absolute URL),
by both, or, with neither, by a heuristic for same-site article URLs.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from cssselect import SelectorError
from lxml import etree

from monitor.errors import ParseError, SourceError
from monitor.sources import (
    MAX_ENTRIES,
    WarningLog,
    clean_href,
    collapse_ws,
    header_charset,
    is_http_url,
    language_code,
    media_type,
    normalize_headers,
)
from monitor.types import Entry, ParsedSource

__all__ = ["looks_like_article", "parse_page"]

_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE
)
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
_HTML_TAG_RE = re.compile(
    r"<(?:!doctype\s+html|html|head|body|title|meta|a|div|p|span|ul|li|table|section|article|"
    r"main|nav|header|footer|h[1-6]|br|img|form|script)[\s>/]",
    re.IGNORECASE,
)
_FEED_ROOT_RE = re.compile(
    r"^(?:\s*<(?:\?[^>]*\?|!--.*?--|!DOCTYPE[^>]*)>)*\s*<(?:\w+:)?(rss|feed|RDF|urlset|sitemapindex)\b",
    re.DOTALL,
)
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x1f\x8b")

#: Path segments of navigation, not articles (the heuristic only).
_NAV_SEGMENTS = frozenset({
    "about", "about-us", "aboutus", "account", "author", "authors", "cart", "categories",
    "category", "contact", "contact-us", "contacts", "cookies", "faq", "feed", "feeds", "help",
    "login", "logout", "page", "pages", "privacy", "privacy-policy", "profile", "register",
    "rss", "search", "share", "sign-in", "signin", "sign-up", "signup", "sitemap", "subscribe",
    "tag", "tags", "terms", "user", "users", "wp-admin", "wp-login.php",
})
#: File types that are no article pages (the heuristic only).
_FILE_RE = re.compile(
    r"\.(?:pdf|jpe?g|png|gif|svg|webp|bmp|ico|docx?|xlsx?|pptx?|odt|ods|rtf|zip|rar|7z|gz|"
    r"mp3|mp4|avi|mov|wmv|webm|css|js|xml|rss|json|txt|exe)$",
    re.IGNORECASE,
)
_LANG_SEGMENT_RE = re.compile(r"[a-z]{2}(?:[-_][a-z]{2})?", re.IGNORECASE)
_NUMBER_RE = re.compile(r"\d{3,}")


def parse_page(
    content: bytes,
    headers: Mapping[str, str],
    *,
    base_url: str,
    link_selector: str | None = None,
    link_pattern: str | None = None,
) -> ParsedSource:
    """The article links of an HTML listing page, in page order, without duplicates.

    Raises :class:`ParseError` when the bytes are not HTML, and
    :class:`SourceError` when ``link_selector`` or ``link_pattern`` is invalid.
    """
    hdrs = normalize_headers(headers)
    pattern = _compile_pattern(link_pattern)
    root = _parse_html(content, hdrs)
    log = WarningLog()

    base = base_url
    for element in root.iter("base"):
        if element.get("href"):
            base = urljoin(base_url, clean_href(element.get("href", "")))
            break
    page_url = urldefrag(base_url)[0]
    chosen = _select(root, link_selector) if link_selector else None

    found: dict[str, str] = {}  # url -> title, in page order
    skipped_schemes = 0
    for anchor in root.iter("a"):
        href = anchor.get("href")
        if href is None or (chosen is not None and anchor not in chosen):
            continue
        url = urldefrag(urljoin(base, clean_href(href)))[0]
        if not is_http_url(url):
            skipped_schemes += chosen is not None
            continue
        if _same_url(url, page_url):
            continue
        if pattern is not None and not pattern.search(url):
            continue
        if chosen is None and pattern is None and not (
            looks_like_article(url, page_url) and not _in_navigation(anchor)
        ):
            continue
        title = _anchor_title(anchor)
        if url not in found or (title and not found[url]):
            found[url] = title

    if skipped_schemes:
        log.add(f"skipped {skipped_schemes} selected links that are not http(s)")
    if (link_selector or pattern is not None) and not found:
        log.add("no link matched link_selector / link_pattern: has the page's layout changed?")
    items = list(found.items())
    if len(items) > MAX_ENTRIES:
        log.add(f"page has {len(items)} article links; kept the first {MAX_ENTRIES}")
        items = items[:MAX_ENTRIES]
    language = language_code(root.get("lang")) or language_code(hdrs.get("content-language"))
    entries = tuple(Entry(url=u, guid=u, title=t, language=language) for u, t in items)
    title = next((collapse_ws(t.text_content()) for t in root.iter("title")), "")
    return ParsedSource(entries, log.result(), title)


def looks_like_article(url: str, page_url: str) -> bool:
    """The heuristic: a same-site URL whose path looks like an article, not navigation.

    An article path has, after an optional language prefix (``/en/``), two or more
    segments, or one long slug (3+ words or 30+ characters), or a number of 3+
    digits (also ``?id=123``); it is not a file (``.pdf``, ``.jpg`` ...) and has no
    navigation segment (``about``, ``contact``, ``search``, ``tag``, ``login`` ...).
    """
    parts, page = urlsplit(url), urlsplit(page_url)
    if _site(parts.hostname) != _site(page.hostname) or _FILE_RE.search(parts.path):
        return False
    segments = [s for s in parts.path.split("/") if s]
    if segments and _LANG_SEGMENT_RE.fullmatch(segments[0]):
        segments = segments[1:]
    if any(s.lower() in _NAV_SEGMENTS for s in segments):
        return False
    if len(segments) >= 2 or _NUMBER_RE.search(parts.path):
        return True
    if re.search(r"(?:^|&)(?:id|news|article|item|nid|post|p)=\d+", parts.query, re.I):
        return True
    slug = segments[0] if segments else ""
    return len(re.split(r"[-_+.]", slug)) >= 3 or len(slug) >= 30


def _site(host: str | None) -> str:
    host = (host or "").lower()
    return host[4:] if host.startswith("www.") else host


def _same_url(url: str, other: str) -> bool:
    return url.rstrip("/") == other.rstrip("/")


def _in_navigation(anchor: Any) -> bool:
    """Inside ``<nav>``, ``<footer>``, a ``role=navigation`` or a page ``<header>``."""
    in_header = False
    for ancestor in anchor.iterancestors():
        tag = ancestor.tag if isinstance(ancestor.tag, str) else ""
        if tag in ("nav", "footer") or ancestor.get("role") == "navigation":
            return True
        if tag == "article":
            return False
        in_header = in_header or tag == "header"
    return in_header


def _anchor_title(anchor: Any) -> str:
    text = collapse_ws(anchor.text_content())
    if text:
        return text
    for value in (anchor.get("title"), *(img.get("alt") for img in anchor.iter("img"))):
        if value and value.strip():
            return collapse_ws(value)
    return ""


def _compile_pattern(link_pattern: str | None) -> re.Pattern[str] | None:
    if link_pattern is None:
        return None
    try:
        return re.compile(link_pattern)
    except re.error as exc:
        raise SourceError(
            f"link_pattern {link_pattern!r} is not a valid regular expression: {exc}"
        ) from exc


def _select(root: Any, selector: str) -> set[Any]:
    """The ``<a>`` elements the selector matches, itself or as a container's descendants."""
    try:
        matched = root.cssselect(selector)
    except SelectorError as exc:
        raise SourceError(
            f"link_selector {selector!r} is not a valid CSS selector: {exc}"
        ) from exc
    anchors: set[Any] = set()
    for element in matched:
        anchors.update(element.iter("a"))  # iter() includes the element itself
    return anchors


# --------------------------------------------------------------------------- decoding


def _parse_html(content: bytes, headers: Mapping[str, str]) -> Any:
    if not content.strip():
        raise ParseError("not an HTML page: the document is empty")
    mtype = media_type(headers)
    if content.startswith(_BINARY_MAGIC) or mtype.startswith(("image/", "audio/", "video/")):
        raise ParseError(f"not an HTML page but binary data ({mtype or 'no content-type'})")
    text = _decode(content, headers)
    if "\x00" in text[:2048]:
        raise ParseError("not an HTML page: binary data (NUL bytes)")
    feed = _FEED_ROOT_RE.match(text)
    if feed:
        root_tag = feed.group(1)
        kind = "sitemap" if root_tag in ("urlset", "sitemapindex") else "feed"
        raise ParseError(f"not an HTML page but a {kind} (<{root_tag}>): use kind = \"{kind}\"")
    if not _HTML_TAG_RE.search(text):
        raise ParseError(
            f"not an HTML page: no HTML tags (content-type {mtype or 'none'}, "
            f"starts {text[:48]!r})"
        )
    try:
        return lxml.html.document_fromstring(_XML_DECL_RE.sub("", text, count=1))
    except (etree.LxmlError, ValueError) as exc:
        raise ParseError(f"not an HTML page: {type(exc).__name__}: {exc}") from exc


def _decode(content: bytes, headers: Mapping[str, str]) -> str:
    """Bytes to text: a BOM, else the header charset, else a ``<meta>`` charset, else
    UTF-8 if it decodes, else windows-1252 (what browsers assume)."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if content.startswith(bom):
            return content[len(bom) :].decode(name, "replace")
    match = _META_CHARSET_RE.search(content[:4096])
    meta = match.group(1).decode("ascii") if match else None
    if meta and meta.lower().startswith("utf-16"):
        meta = "utf-8"  # a <meta> readable as ASCII is no UTF-16 (WHATWG rule)
    for candidate in (header_charset(headers), meta):
        codec = _codec(candidate)
        if codec:
            return content.decode(codec, "replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("windows-1252", "replace")


def _codec(given: str | None) -> str | None:
    if not given:
        return None
    label = given.strip().lower()
    if label in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
        return "windows-1252"  # as the WHATWG encoding standard maps them
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
