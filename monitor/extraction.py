"""Article text and metadata from a fetched page, or from a feed entry as a fallback.

:func:`extract_article` runs in worker processes: its arguments and result pickle,
and the only state it keeps is the language model, loaded once per process on
first use.

Text parity with trafilatura: the stored text is exactly what
``trafilatura.extract(html, url=url)`` returns for the decoded page (default
options, ``txt`` output, no metadata). The page is parsed once, by trafilatura's
own ``load_html``; ``bare_extraction`` is given that tree (it works on a copy, as it
does for any tree it is given) with the options ``extract`` builds, and the text is
rendered by trafilatura's ``determine_returnstring``: the path ``extract`` takes.
``tests/test_extraction.py`` checks the equality on real pages.

Metadata comes from the same tree, the cheap way: meta tags and OpenGraph, JSON-LD,
the ``<title>`` and ``<h1>`` (trafilatura's own helpers for these), and the date
from ``htmldate.find_date(..., extensive_search=False)``, looked for only when the
caller has none. trafilatura's full metadata pass (``with_metadata=True``) costs a
third as much again as the text; what it adds and we skip is the author found in
the page body (bylines), categories, tags and the licence.

Decoding (:func:`decode_html`) is ours, because trafilatura given bytes ignores
``<meta charset>``: BOM, then the HTTP ``charset``, then ``<meta>`` / XML
declaration, then detection (valid UTF-8, else charset-normalizer). The BOM comes
first, as in the WHATWG encoding-sniffing algorithm, since it cannot be wrong.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import lxml.html
from lxml import etree

from monitor.errors import ExtractionError
from monitor.types import Article

__all__ = [
    "PageMetadata", "article_from_entry", "decode_html", "detect_language", "extract_article",
    "html_to_text", "language_scores", "page_metadata",
]

#: Below this probability the detected language is "unsure" and a language the
#: page or feed declares wins.
MIN_CONFIDENCE = 0.5
#: Fewer letters than this and :func:`detect_language` does not guess (a CJK
#: character, about a word, counts as three).
MIN_LETTERS = 8
#: A text needs one line with at least this many words (or CJK-like characters)
#: to count as an article rather than a menu or a list of links.
PROSE_WORDS = 6
PROSE_CHARS = 15
#: Only this much text is given to the language model (the rest adds nothing: on
#: the 485 real pages of the peer benchmarks, 1,000 characters and 2,000 give the
#: same language, and the same side of MIN_CONFIDENCE, for every page).
LANGUAGE_SAMPLE = 1_000
#: Decompression cap for a body that arrives still gzip-compressed.
MAX_DECOMPRESSED = 20 * 1024 * 1024

# ---------------------------------------------------------------------------- decoding

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: same first two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# What browsers really use for some declared labels (WHATWG Encoding Standard).
_ALIASES = {
    "iso8859-1": "cp1252", "ascii": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874",
    "tis-620": "cp874", "gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932",
    "euc_kr": "cp949", "big5": "big5hkscs",
    # a document that could be read to find <meta> is not UTF-16/32
    **dict.fromkeys(("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"),
                    "utf-8"),
}
_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_META_RE = re.compile(rb"<meta\b[^>]*>", re.I)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._\-]+)""")
_PRESCAN_BYTES = 16_384
#: A declared encoding that leaves at most this many undecodable bytes (or 1% of
#: the non-ASCII ones) still wins: pages with one stray byte are common.
_TOLERATED_ERRORS = 10


def _codec(label: str | None) -> str | None:
    """Python's codec name for an encoding label, or None when unknown."""
    try:
        name = codecs.lookup((label or "").strip().strip("\"'").lower()).name
    except LookupError:
        return None
    return _ALIASES.get(name, name)


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def _meta_charset(content: bytes) -> str | None:
    head = content[:_PRESCAN_BYTES]
    match = _XML_DECL_RE.match(head)
    if match:
        return _codec(match.group(1).decode("ascii"))
    for tag in _META_RE.finditer(head):
        found = _CHARSET_RE.search(tag.group(0).decode("latin-1"))
        if found and (codec := _codec(found.group(1))):
            return codec
    return None


def _detect(content: bytes) -> str | None:
    from charset_normalizer import from_bytes

    sample = content if len(content) < 20_000 else content[:10_000] + content[-10_000:]
    best = from_bytes(sample).best()
    return _codec(best.encoding) if best is not None else None


def _tolerable(content: bytes, codec: str) -> str | None:
    """The text in ``codec``, allowing a few undecodable bytes; None if it is wrong."""
    try:
        return content.decode(codec)
    except UnicodeDecodeError:
        text = content.decode(codec, errors="replace")
    errors = text.count("\ufffd")
    if errors <= _TOLERATED_ERRORS:
        return text
    non_ascii = len(content) - len(content.translate(None, bytes(range(128, 256))))
    return text if errors * 100 <= non_ascii else None


def decode_html(content: bytes, headers: Mapping[str, str]) -> str:
    """Decode an HTML body: BOM, HTTP charset, ``<meta>`` charset, then detection.

    A declared encoding is kept when the body decodes with it, give or take a few
    stray bytes (replaced by U+FFFD); a wrong declaration falls through to the next
    source. A body still gzip-compressed (magic bytes) is inflated first. Never
    fails: the last resort is UTF-8 with replacement characters.
    """
    if content[:3] == b"\x1f\x8b\x08":
        try:
            inflater = zlib.decompressobj(31)
            content = inflater.decompress(content, MAX_DECOMPRESSED)
        except zlib.error:
            pass
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content[len(bom):].decode(codec, errors="replace")
    header = _CHARSET_RE.search(_header(headers, "content-type"))
    declared = [_codec(header.group(1)) if header else None, _meta_charset(content)]
    for codec in dict.fromkeys(c for c in declared if c):
        text = _tolerable(content, codec)
        if text is not None:
            return text
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    guess = _detect(content)
    if guess and (text := _tolerable(content, guess)) is not None:
        return text
    return content.decode(next((c for c in declared if c), "utf-8"), errors="replace")


# ---------------------------------------------------------------------------- language

# Labels of the model that are varieties of an ISO 639-1 language; other labels
# without a two-letter code (and "zxx", no linguistic content) are never returned.
_TO_ISO1 = {"wuu": "zh", "yue": "zh", "ary": "ar", "arz": "ar", "uzs": "uz", "sdh": "ku",
            "gug": "gn", "kik": "ki", "fuv": "ff"}
# Languages the model may confuse with Azerbaijani: a text whose letters are 3% or
# more schwa is Azerbaijani, with at least MIN_CONFIDENCE (so that a feed's or a
# page's declared "tr" does not override it).
_LATIN_TURKIC = frozenset({"tr", "crh", "tk", "uz", "tt", "ba"})
#: Azerbaijani writes schwa (ə) in 6-10% of letters; Turkish never does, except
#: in a quoted Azerbaijani name (well under 3%).
_SCHWA_SHARE = 0.03


@functools.cache
def _identifier() -> Any:
    """py3langid's model with normalised probabilities, loaded once per process."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _has_letters(sample: str, needed: int) -> bool:
    """At least ``needed`` letters, a CJK-like character counting as three (stops as
    soon as there are enough: a page has thousands)."""
    for ch in sample:
        if ch.isalpha():
            needed -= 3 if ch >= "\u2e80" else 1
            if needed <= 0:
                return True
    return False


def language_scores(text: str) -> tuple[str | None, float]:
    """The most probable ISO 639-1 language of ``text`` and its probability.

    ``(None, 0.0)`` when the text has fewer than :data:`MIN_LETTERS` letters or no
    linguistic content.
    """
    sample = text[:LANGUAGE_SAMPLE]
    if not _has_letters(sample, MIN_LETTERS):
        return None, 0.0
    totals: dict[str, float] = {}
    for label, prob in _identifier().rank(sample):
        code = _TO_ISO1.get(label, label)
        if len(code) == 2:
            totals[code] = totals.get(code, 0.0) + prob
    if not totals:
        return None, 0.0
    best = max(totals, key=totals.__getitem__)
    if best in _LATIN_TURKIC or best == "az":
        letters = [ch for ch in sample if ch.isalpha()]
        schwa = sum(1 for ch in letters if ch in "əƏ")
        if schwa >= _SCHWA_SHARE * len(letters):
            return "az", max(totals.get("az", 0.0), MIN_CONFIDENCE)
    return best, totals[best]


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the language of ``text``; ``None`` only when the text is too
    short or has no letters to tell by (a weak guess is still returned: see
    :func:`language_scores` for its probability)."""
    return language_scores(text)[0]


_HTML_LANG_RE = re.compile(
    r"""<html\b[^>]*?\b(?:xml:)?lang\s*=\s*["']?\s*([A-Za-z]{2,3})\b""", re.I
)
_META_LANG_RE = re.compile(
    r"""<meta\b(?=[^>]*http-equiv\s*=\s*["']?content-language)[^>]*\bcontent\s*=\s*["']?\s*"""
    r"""([A-Za-z]{2,3})\b""", re.I,
)


def _primary(tag: str | None) -> str | None:
    """``en-GB`` -> ``en``; None for an empty or malformed tag."""
    if not tag:
        return None
    code = re.split(r"[-_,;\s]", tag.strip(), maxsplit=1)[0].lower()
    return code if re.fullmatch(r"[a-z]{2}", code) else None


def _declared_language(html: str, headers: Mapping[str, str]) -> str | None:
    """The page's own language: ``<html lang>``, meta Content-Language, then the header."""
    head = html[:_PRESCAN_BYTES]
    for regex in (_HTML_LANG_RE, _META_LANG_RE):
        match = regex.search(head)
        if match and (code := _primary(match.group(1))):
            return code
    return _primary(_header(headers, "content-language"))


def _choose_language(text: str, declared: str | None) -> str | None:
    detected, confidence = language_scores(text)
    if declared and (detected is None or confidence < MIN_CONFIDENCE):
        return declared
    return detected


# ---------------------------------------------------------------------------- pages


def _is_prose(text: str) -> bool:
    """True when some line reads like running text rather than a menu entry."""
    for line in text.splitlines():
        if len(line) < PROSE_CHARS:
            continue
        words = [w for w in line.split() if any(ch.isalpha() for ch in w)]
        if len(words) >= PROSE_WORDS:
            return True
        # scripts written without spaces: count the letters of the longest run
        if max((sum(ch.isalpha() for ch in w) for w in words), default=0) >= PROSE_CHARS:
            return True
    return False


def _parse_date(value: str | None) -> datetime | None:
    """htmldate's ``YYYY-MM-DD`` as midnight UTC."""
    try:
        return datetime.strptime((value or "")[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class PageMetadata:
    """What the page says about itself, besides its text."""

    title: str = ""
    author: str = ""
    sitename: str = ""
    published: datetime | None = None


def page_metadata(tree: Any, url: str, *, find_date: bool = True) -> PageMetadata:
    """Title, author, site name and (with ``find_date``) date of a parsed page.

    The cheap sources only, in trafilatura's order of preference: OpenGraph and
    other meta tags, then JSON-LD; the title falls back on the ``<h1>`` and
    ``<title>``, the site name on the ``<title>`` and the host name. The date is
    htmldate's without its extensive search (URL, meta tags, JSON-LD, ``<time>``,
    ``<abbr>``, the title and headings). Never raises: a field that cannot be read
    stays empty.
    """
    from trafilatura.metadata import (
        META_URL,
        examine_meta,
        extract_meta_json,
        extract_sitename,
        extract_title,
    )

    try:
        found = examine_meta(tree)
        if found.author and " " not in found.author:  # a user name, not a person's name
            found.author = None
        with contextlib.suppress(Exception):  # malformed JSON-LD: keep the meta tags' values
            found = extract_meta_json(tree, found)
        if not found.title:
            found.title = extract_title(tree)
        if not found.sitename:
            found.sitename = extract_sitename(tree)
        if found.sitename:
            found.sitename = found.sitename.lstrip("@")
            if found.sitename and "." not in found.sitename and not found.sitename[0].isupper():
                found.sitename = found.sitename.title()
        elif match := META_URL.match(url):
            found.sitename = match[1]
        found.clean_and_trim()
    except Exception:  # a bug in trafilatura on one page: the text is what matters
        return PageMetadata()
    published = None
    if find_date:
        from htmldate import find_date as htmldate_find

        try:
            published = _parse_date(htmldate_find(tree, extensive_search=False,
                                                  original_date=True, url=url))
        except Exception:
            published = None
    return PageMetadata(
        title=_clean_line(found.title), author=_clean_line(found.author),
        sitename=_clean_line(found.sitename), published=published,
    )


def extract_article(
    content: bytes, headers: Mapping[str, str], *, url: str, find_date: bool = True
) -> Article:
    """Main text and metadata of an article page (``method="page"``).

    ``text`` equals ``trafilatura.extract(decode_html(content, headers), url=url)``;
    the metadata is :func:`page_metadata`'s (``find_date=False`` when the caller
    has a date already: ``published`` is then None). ``published`` is the page's
    date at midnight UTC (htmldate gives days). The language is detected from the
    text; when detection is unsure the page's ``<html lang>`` or Content-Language
    decides.

    Raises :class:`ExtractionError` for an empty body, a body that is not HTML, a
    page without main text, or one whose only text is short lines (navigation).
    """
    from trafilatura.core import bare_extraction, determine_returnstring
    from trafilatura.settings import Document, Extractor
    from trafilatura.utils import load_html

    html = decode_html(content, headers)
    if not html.strip():
        raise ExtractionError(f"empty page body ({url})")
    options = Extractor(output_format="txt", url=url)  # what extract(html, url=url) builds
    try:
        tree = load_html(html)
        document = bare_extraction(tree, options=options) if tree is not None else None
        if not isinstance(document, Document):
            raise ExtractionError(f"no main text found: not HTML, or nothing to extract ({url})")
        text: str = determine_returnstring(document, options)
    except ExtractionError:
        raise
    except Exception as exc:  # a bug in trafilatura or lxml on one page, not ours to crash on
        raise ExtractionError(f"trafilatura failed: {type(exc).__name__}: {exc} ({url})") from exc
    if not text.strip():
        raise ExtractionError(f"the extracted main text is empty ({url})")
    if not _is_prose(text):
        raise ExtractionError(f"only short lines (navigation, link lists), no prose ({url})")
    meta = page_metadata(tree, url, find_date=find_date)  # bare_extraction left `tree` as it was
    return Article(
        url=url,
        text=text,
        title=meta.title,
        author=meta.author,
        sitename=meta.sitename,
        published=meta.published,
        language=_choose_language(text, _declared_language(html, headers)),
        method="page",
    )


# ---------------------------------------------------------------------------- feeds

_DROP = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
         "math", "head", "title", "button", "select", "form")
_BLOCKS = frozenset((
    "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "thead", "tbody",
    "tfoot", "caption", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section",
    "article", "aside", "header", "footer", "nav", "main", "figure", "figcaption", "address",
    "details", "summary", "body", "html",
))
_TAG_RE = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?\s*>|<[!?]|&[#A-Za-z0-9]+;")


def _clean_line(value: str | None) -> str:
    return " ".join((value or "").split())


def _tidy(raw: str) -> str:
    """Collapse spaces inside lines, drop empty lines, NFC."""
    lines = (" ".join(line.split()) for line in raw.splitlines())
    return unicodedata.normalize("NFC", "\n".join(line for line in lines if line))


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: scripts and styles dropped, one line per block.

    Text without any tag or entity is taken as plain text (its line breaks kept).
    """
    if not _TAG_RE.search(markup):
        return _tidy(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except ValueError:  # a str with an encoding declaration: lxml wants bytes
        root = lxml.html.fragment_fromstring(markup.encode(), create_parent="div")
    except etree.ParserError:  # nothing but comments or whitespace
        return ""
    etree.strip_elements(root, *_DROP, etree.Comment, etree.ProcessingInstruction,
                         with_tail=False)
    parts: list[str] = []
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _BLOCKS:
                parts.append("\n")
            if element.text:
                parts.append(element.text)
            continue
        if tag in _BLOCKS:
            parts.append("\n")
        elif tag in ("td", "th"):
            parts.append(" ")
        if element.tail and element is not root:
            parts.append(element.tail)
    return _tidy("".join(parts))


def article_from_entry(
    *,
    url: str,
    title: str,
    content: str,
    summary: str,
    published: datetime | None,
    author: str,
    language_hint: str | None,
) -> Article:
    """The feed's own text for an item (``method="feed"``), the fallback for a page.

    The text is ``content`` converted to plain text, or ``summary`` when content
    yields nothing. The language is detected from title and text; when detection
    is unsure ``language_hint`` (``en``, ``en-US``...) decides. Raises
    :class:`ExtractionError` when neither content nor summary has any text.
    """
    text = html_to_text(content) if content else ""
    if not text and summary:
        text = html_to_text(summary)
    if not text:
        raise ExtractionError(f"the feed entry has no content or summary text ({url})")
    clean_title = _clean_line(html_to_text(title)) if title else ""
    sample = f"{clean_title}\n{text}" if clean_title else text
    return Article(
        url=url,
        text=text,
        title=clean_title,
        author=_clean_line(author),
        published=published,
        language=_choose_language(sample, _primary(language_hint)),
        method="feed",
    )
