"""Labeled data in the labeling guide's format: read, validate, write; seeds; passages.

The format is JSON Lines, one item a line (``../shared/labeling-guide.md``)::

    {"id": "...", "url": "...", "language": "en", "title": "...", "text": "...",
     "relevant": true, "countries": ["CN"], "domains": ["cardiology", "research"]}

Reading validates every line against the guide and reports *every* problem with its
line number in one :class:`~classifiers.errors.LabelError`; nothing is accepted
partially. The checks:

- the line is a JSON object; ``id`` is a non-empty string, unique in the file; ``text``
  is a non-empty string; ``title`` and ``url`` are strings when given;
- ``relevant`` is a JSON boolean (not ``"true"``, not ``1``);
- ``countries`` is a list of ISO 3166-1 alpha-2 codes in upper case (``XK`` for Kosovo
  is accepted), no repeats, and without the home country when one is given;
- ``domains`` is a list of the taxonomy's domain ids, no repeats;
- an item that is not relevant has no countries and no domains;
- ``language``, when given and not null, is an ISO 639-1 code in lower case.

Unknown keys are ignored (a labeling tool may add its own bookkeeping).

:func:`split_passages` cuts a long text into paragraph-aligned passages of about
``target_chars`` characters and leaves out reference lists and bibliographies (a
paper's reference list names many countries that are not parties, and its titles are
not the paper's own words).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from classifiers.errors import LabelError
from classifiers.types import LabeledItem

__all__ = [
    "SEEDS_DIR",
    "load_seeds",
    "parse_labeled_lines",
    "read_labeled",
    "reference_section_start",
    "split_passages",
    "write_labeled",
]

#: The project's ``seeds/`` folder (a checkout or an editable install).
SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"

_FIELDS = ("id", "url", "language", "title", "text", "relevant", "countries", "domains")
_ALPHA2 = re.compile(r"[A-Z]{2}")
_ISO639_1 = re.compile(r"[a-z]{2}")
_EXTRA_COUNTRY_CODES = frozenset({"XK"})  # Kosovo: user-assigned, widely used


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries) | _EXTRA_COUNTRY_CODES


@lru_cache(maxsize=1)
def _language_codes() -> frozenset[str]:
    import pycountry

    return frozenset(
        lang.alpha_2 for lang in pycountry.languages if getattr(lang, "alpha_2", None)
    )


def _default_domains() -> frozenset[str]:
    from classifiers.taxonomy import DOMAIN_IDS

    return frozenset(DOMAIN_IDS)


def _check_codes(value: Any, key: str, known: Collection[str], problems: list[str]) -> tuple[
    str, ...
]:
    if not isinstance(value, list):
        problems.append(f"{key!r} must be a list, not {type(value).__name__}")
        return ()
    out: list[str] = []
    for code in value:
        if not isinstance(code, str):
            problems.append(f"{key!r} holds a {type(code).__name__}, not a string: {code!r}")
        elif code in out:
            problems.append(f"{key!r} repeats {code!r}")
        elif key == "countries" and not _ALPHA2.fullmatch(code):
            problems.append(f"country {code!r} is not an ISO 3166-1 alpha-2 code in upper case")
        elif code not in known:
            what = "country code" if key == "countries" else "domain id"
            problems.append(f"unknown {what} {code!r}")
        else:
            out.append(code)
    return tuple(out)


def _parse_item(
    obj: Any,
    *,
    domains: Collection[str],
    home: str | None,
) -> tuple[LabeledItem | None, list[str]]:
    problems: list[str] = []
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, got {type(obj).__name__}"]
    item_id = obj.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        problems.append("'id' must be a non-empty string")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("'text' must be a non-empty string")
    for key in ("title", "url"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], str):
            problems.append(f"{key!r} must be a string")
    relevant = obj.get("relevant")
    if not isinstance(relevant, bool):
        problems.append("'relevant' must be true or false")
    language = obj.get("language")
    if language is not None and (
        not isinstance(language, str)
        or not _ISO639_1.fullmatch(language)
        or language not in _language_codes()
    ):
        problems.append(f"'language' must be an ISO 639-1 code in lower case, not {language!r}")
    countries = _check_codes(obj.get("countries", []), "countries", _country_codes(), problems)
    tags = _check_codes(obj.get("domains", []), "domains", domains, problems)
    if home is not None and home in countries:
        problems.append(f"'countries' holds the home country {home!r}, which the guide leaves out")
    if relevant is False and (obj.get("countries") or obj.get("domains")):
        problems.append("an item that is not relevant has no countries and no domains")
    if problems:
        return None, problems
    assert isinstance(item_id, str) and isinstance(text, str) and isinstance(relevant, bool)
    return (
        LabeledItem(
            id=item_id,
            title=obj.get("title") or "",
            text=text,
            relevant=relevant,
            countries=countries,
            domains=tags,
            language=language,
            url=obj.get("url") or "",
        ),
        [],
    )


def parse_labeled_lines(
    lines: Iterable[str],
    *,
    source: str,
    domains: Collection[str] | None = None,
    home: str | None = None,
) -> list[LabeledItem]:
    """Parse and validate JSON Lines; raise one :class:`LabelError` naming every bad line.

    ``source`` names the input in messages; blank lines are skipped (and counted).
    ``domains`` defaults to the taxonomy's ids; ``home``, when given, may not be listed.
    """
    known = frozenset(domains) if domains is not None else _default_domains()
    items: list[LabeledItem] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append((number, f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        item, found = _parse_item(obj, domains=known, home=home)
        problems.extend((number, message) for message in found)
        if item is None:
            continue
        if item.id in seen:
            problems.append((number, f"id {item.id!r} already used on line {seen[item.id]}"))
            continue
        seen[item.id] = number
        items.append(item)
    if problems:
        raise LabelError(problems, path=source)
    return items


def read_labeled(
    path: Path | str,
    *,
    domains: Collection[str] | None = None,
    home: str | None = None,
) -> list[LabeledItem]:
    """Read a JSON Lines file of labeled items; see :func:`parse_labeled_lines`."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LabelError([(0, f"not UTF-8: {exc.reason}")], path=str(p)) from exc
    return parse_labeled_lines(raw.splitlines(), source=str(p), domains=domains, home=home)


def item_to_dict(item: LabeledItem) -> dict[str, Any]:
    """One item as the guide's JSON object (keys in the guide's order)."""
    return {
        "id": item.id,
        "url": item.url,
        "language": item.language,
        "title": item.title,
        "text": item.text,
        "relevant": item.relevant,
        "countries": list(item.countries),
        "domains": list(item.domains),
    }


def write_labeled(items: Iterable[LabeledItem], path: Path | str) -> Path:
    """Write items as JSON Lines (UTF-8, one object a line), replacing ``path`` atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for item in items:
                fh.write(json.dumps(item_to_dict(item), ensure_ascii=False) + "\n")
        Path(tmp).replace(p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def load_seeds(directory: Path | None = None) -> list[LabeledItem]:
    """The seed documents: ``labels.jsonl`` in ``directory`` (default: the project's seeds)."""
    return read_labeled((directory or SEEDS_DIR) / "labels.jsonl")


# -- passages -------------------------------------------------------------------------

# A heading that opens a reference list, in the languages the service reads.
_REFERENCE_HEADINGS = (
    "references", "reference list", "bibliography", "literature", "literature cited",
    "works cited", "sources", "notes and references", "endnotes",
    "ədəbiyyat", "ədəbiyyat siyahısı", "istinadlar", "mənbələr", "istifadə olunmuş ədəbiyyat",
    "литература", "список литературы", "список использованной литературы",
    "библиография", "источники",
    "kaynaklar", "kaynakça", "literatür",
    "literaturverzeichnis", "quellen", "literatur", "bibliografia", "bibliographie",
    "piśmiennictwo", "литература и извори",
)
_HEADING_LINE = re.compile(r"^[ \t#*_>\d.IVX]*([^\W\d_][^\n]{0,40}?)[\s:.*_]*$", re.MULTILINE)
# A line that looks like one entry of a reference list.
_REFERENCE_ENTRY = re.compile(
    r"^\s*(?:\[\d+\]|\d{1,3}[.)])\s.{0,400}?(?:\(\d{4}\)|\b(?:19|20)\d{2}\b).{0,400}"
    r"(?:https?://|doi|pp?\.\s*\d|Available at|\[online\]|Vol\.|№)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?。؟…])[\"'»”)]*\s+")


def reference_section_start(text: str) -> int:
    """Offset where a trailing reference list begins (its heading), else ``len(text)``.

    Only a heading in the second half of the text counts, so that a title or a table of
    contents naming "References" cuts nothing.
    """
    half = len(text) // 2
    for match in _HEADING_LINE.finditer(text):
        if match.start() < half:
            continue
        words = match.group(1).strip().casefold().rstrip(":.")
        if words in _REFERENCE_HEADINGS:
            return match.start()
    return len(text)


def _is_reference_paragraph(paragraph: str) -> bool:
    lines = [line for line in paragraph.splitlines() if line.strip()]
    if not lines:
        return False
    entries = sum(1 for line in lines if _REFERENCE_ENTRY.match(line))
    return entries * 2 > len(lines)


def _paragraphs(text: str) -> list[str]:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    out: list[str] = []
    for block in blocks:
        # A text with single newlines between long lines has one paragraph a line.
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if len(lines) > 1 and sum(len(line) for line in lines) / len(lines) > 120:
            out.extend(lines)
        else:
            out.append(block)
    return out


def _cut_long(paragraph: str, limit: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    # a "sentence" longer than the limit (no punctuation) is cut at spaces
    out: list[str] = []
    for piece in pieces:
        while len(piece) > 2 * limit:
            cut = piece.rfind(" ", 0, limit) if " " in piece[:limit] else limit
            cut = cut if cut > 0 else limit
            out.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            out.append(piece)
    return out


def split_passages(text: str, *, target_chars: int = 700) -> list[str]:
    """Cut ``text`` into passages of about ``target_chars``, along paragraph boundaries.

    Short paragraphs are joined up to ``target_chars``; a paragraph longer than twice
    that is cut between sentences. A trailing reference list (from its heading on) and
    paragraphs made mostly of reference entries are left out.
    """
    if target_chars < 50:
        raise ValueError("target_chars must be at least 50")
    body = text[: reference_section_start(text)]
    paragraphs = [p for p in _paragraphs(body) if not _is_reference_paragraph(p)]
    passages: list[str] = []
    current = ""
    for paragraph in paragraphs:
        pieces = (
            _cut_long(paragraph, target_chars) if len(paragraph) > 2 * target_chars else [paragraph]
        )
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > target_chars:
                passages.append(current)
                current = piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
    if current:
        passages.append(current)
    return passages


def passages_of(items: Sequence[LabeledItem], *, target_chars: int = 700) -> list[
    tuple[LabeledItem, str]
]:
    """Each item's passages, paired with the item they come from."""
    return [
        (item, p) for item in items for p in split_passages(item.text, target_chars=target_chars)
    ]
