"""Item text for the page: escaped, split into paragraphs, evidence words marked.

Every character of the item's text goes through :func:`markupsafe.escape`; the only
markup added is ``<mark>`` elements whose class names are fixed strings here and
whose ``title`` (the tags behind a word) is escaped too. The words are found in the
raw text (whole words, case-insensitive, any run of non-letters between the parts
of a phrase, since the stored evidence is normalised) and each piece, marked or
not, is escaped on its own: no part of the text is ever emitted unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["highlight", "paragraphs"]

#: At most this many distinct evidence terms are marked (the longest first).
MAX_TERMS = 300
_PARAGRAPH = re.compile(r"\n\s*\n|\r\n\s*\r\n")
_SEP = re.compile(r"[\W_]+")


def _key(term: str) -> str:
    return " ".join(_SEP.sub(" ", term.casefold()).split())


def _kind(tag: str) -> str:
    if tag == "relevant":
        return "ev-rel"
    if re.fullmatch(r"[A-Z]{2}", tag):
        return "ev-country"
    return "ev-domain"


class _Terms:
    def __init__(self, evidence: Mapping[str, Sequence[str]]) -> None:
        tags_of: dict[str, list[str]] = {}
        for tag, words in evidence.items():
            for word in words:
                key = _key(str(word))
                if not key or len(key) > 100:
                    continue
                held = tags_of.setdefault(key, [])
                if tag not in held:
                    held.append(tag)
        keys = sorted(tags_of, key=lambda k: (-len(k), k))[:MAX_TERMS]
        self.tags_of = {k: tags_of[k] for k in keys}
        if keys:
            alternatives = "|".join(r"[\W_]+".join(re.escape(p) for p in k.split())
                                    for k in keys)
            self.pattern: re.Pattern[str] | None = re.compile(
                rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        else:
            self.pattern = None

    def mark(self, text: str) -> Markup:
        if self.pattern is None:
            return escape(text)
        out: list[str] = []
        pos = 0
        for m in self.pattern.finditer(text):
            tags = self.tags_of.get(_key(m.group(0)))
            if not tags:  # a case folding that the key does not share: leave it plain
                continue
            kinds = " ".join(dict.fromkeys(_kind(t) for t in tags))
            out.append(escape(text[pos:m.start()]))
            out.append(Markup('<mark class="ev {}" title="{}">{}</mark>').format(
                kinds, ", ".join(tags), m.group(0)))
            pos = m.end()
        out.append(escape(text[pos:]))
        return Markup("").join(out)


def highlight(text: str, evidence: Mapping[str, Sequence[str]]) -> Markup:
    """``text`` escaped, with the evidence words (tag -> words) in ``<mark>``."""
    return _Terms(evidence).mark(text)


def paragraphs(text: str, evidence: Mapping[str, Sequence[str]]) -> list[Markup]:
    """The text's paragraphs (split at blank lines, else at line breaks), each
    escaped and marked."""
    terms = _Terms(evidence)
    parts = [p.strip() for p in _PARAGRAPH.split(text)]
    if len([p for p in parts if p]) <= 1:
        parts = [p.strip() for p in text.splitlines()]
    return [terms.mark(" ".join(p.split())) for p in parts if p]
