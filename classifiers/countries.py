"""Partner countries: which countries are parties to the cooperation an item describes.

The gazetteer (:mod:`classifiers.gazetteer`) finds every mention of a country; this
module weighs each country's mentions, following the labeling guide:

* for a party: the title and lead, how many sentences name it, words of cooperation in
  those sentences, actor words next to it ("Israel's ambassador", "the Turkish side",
  "посол Израиля", "doctors from China"), being joined with the home country
  ("Azerbaijan and Latvia", "Azerbaijani-Latvian", "Azərbaycan–Türkiyə"), being named
  as a member of a group ("Central Asian countries, chiefly Tajikistan and Kyrgyzstan"),
  being listed with a party ("from Uzbekistan, Kyrgyzstan and Kazakhstan");
* against: reference lists and citation lines, comparisons ("than in Germany"),
  birthplaces, an event's venue ("Istanbul hosted", "Özbəkistanda keçirilən"), routes
  ("Baku–Tbilisi–Ceyhan"), names that are weak on their own ("Sofia").

The home country (default ``AZ``) is never a party.  Groups (EU, Central Asia) and
international organisations are not countries; only named members count.
"""

from __future__ import annotations

import bisect
import itertools
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifiers.errors import GazetteerError
from classifiers.gazetteer import Gazetteer, _read_toml, fold, load_gazetteer
from classifiers.types import CountryEvidence, Mention

__all__ = ["Gazetteer", "load_gazetteer", "partner_countries", "party_codes"]

CUES_FILE = "countries_cues.toml"
THRESHOLD = 0.5
_WORD_CACHE = 200_000  # distinct words whose cue categories are kept
LEAD_SENTENCES = 2

# weights of the evidence for a party (summed, then capped at 1)
W_TITLE = 0.5
W_LEAD = 0.3
W_HOME = 0.5
W_ACTOR = 0.4
W_GROUP = 0.4
W_ALIAS = 0.2
W_ACT = 0.15  # per sentence with words of cooperation, at most two
W_MORE = 0.1  # per further sentence naming the country, at most three

_TOKEN = re.compile(r"[\w\u0300-\u036f\u064b-\u065f\u0670\u0900-\u0dff]+"
                    r"(?:['’ʼ`ʻ‘][\w\u0300-\u036f\u064b-\u065f]+)*")
# combining marks and scripts the gazetteer's words take in and these do not: when a
# text has none, both cut it into the same words
_OTHER_MARKS = re.compile("[\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u0670\u06d6-\u06ed"
                          "\u0900-\u0dff\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f"
                          "\u1780-\u17ff]")
_SENT_END = re.compile(r"(?<=[.!?؟。])[\"'»”)\]]*\s+|\n+")
_PLACES = ("city", "capital")
_DASHES = {"-", "–", "—", "‐", "‑", "−"}
_TK_LOCATIVE = re.compile(r"(?:'|’)?(?:d|t)(?:a|e|ə)(?:ki|kı)?$")
_CITATION_SIGNS = [
    re.compile(r"\bet\s+al\b", re.I), re.compile(r"\bdoi\b|doi\.org", re.I),
    re.compile(r"\((?:19|20)\d{2}[a-z]?\)"), re.compile(r"\b[Pp]p?\.\s*\d"),
    re.compile(r"\b(?:[Vv]ol|[Тт]|№|[Nn]o)\.?\s*\d"), re.compile(r"//"),
    re.compile(r"https?://"), re.compile(r"^\s*\[?\d{1,3}[\].)]\s"),
    re.compile(r"\b[A-ZА-ЯƏÇŞÖÜĞİ]\.\s?[A-ZА-ЯƏÇŞÖÜĞİ]\."),
    re.compile(r"[Jj]ournal|[Жж]урнал|[Dd]ergisi|[Jj]urnal|[Zz]eitschrift|[Pp]ress\b"),
    re.compile(r"\b[СсSs]\.\s*\d+\s*[-–]\s*\d+"), re.compile(r"\b(?:19|20)\d{2}\s*[;.,:]\s*\d"),
]

# For each sign, a cheap test that any line it matches passes (on the line and on the
# line in lower case), so that the sign's own search runs on few lines.
_ET_AL = re.compile(r"et\s+al").search
_NUMBER_MARK = re.compile(r"(?:vol|т|№|no)\.?\s*\d").search
_INITIALS = re.compile(r"[A-ZА-ЯƏÇŞÖÜĞİ]\.\s?[A-ZА-ЯƏÇŞÖÜĞİ]\.").search
_YEAR_PUNCT = re.compile(r"(?:19|20)\d\d\s*[;.,:]\s*\d").search
_SIGN_HINTS: tuple[Callable[[str, str], object], ...] = (
    lambda line, low: _ET_AL(low),
    lambda line, low: "doi" in low or "doı" in low,  # re.I matches dotless ı for i
    lambda line, low: "(" in line,
    lambda line, low: "p." in low,
    lambda line, low: _NUMBER_MARK(low),
    lambda line, low: "//" in line,
    lambda line, low: "http" in line,
    lambda line, low: True,
    lambda line, low: _INITIALS(line),
    lambda line, low: any(w in low for w in ("journal", "журнал", "dergisi", "jurnal",
                                              "zeitschrift", "press")),
    lambda line, low: "s." in low or "с." in low,
    lambda line, low: _YEAR_PUNCT(line),
)


def _citation_like(line: str) -> bool:
    """Two or more of the citation signs in one line."""
    low = line.lower()
    count = 0
    for hint, sign in zip(_SIGN_HINTS, _CITATION_SIGNS, strict=True):
        if hint(line, low) and sign.search(line):
            count += 1
            if count == 2:
                return True
    return False


# ---------------------------------------------------------------- cue words


@dataclass
class _Lexicon:
    """Cue words by category, matched on folded tokens (prefixes with a trailing *)."""

    exact: dict[str, set[str]] = field(default_factory=dict)
    prefix: dict[str, set[str]] = field(default_factory=dict)
    phrases: dict[str, list[tuple[tuple[str, ...], bool, str]]] = field(default_factory=dict)
    words: dict[str, frozenset[str]] = field(default_factory=dict)
    headings: frozenset[str] = frozenset()
    max_prefix: int = 0
    by_word: dict[str, dict[str, int]] = field(default_factory=dict)  # one-word cues, kept
    # phrases by first word, then by second word (exact), plus two-word phrases whose
    # second word is a prefix
    by_second: dict[str, tuple[dict[str, list[tuple[tuple[str, ...], bool, str]]],
                               list[tuple[tuple[str, ...], bool, str]]]] = field(
        default_factory=dict)

    def add(self, category: str, cue: str) -> None:
        star = cue.endswith("*")
        parts = [fold(p) for p in _TOKEN.findall(cue.rstrip("*"))]
        if not parts:
            return
        if len(parts) == 1:
            table = self.prefix if star else self.exact
            table.setdefault(parts[0], set()).add(category)
            if star:
                self.max_prefix = max(self.max_prefix, len(parts[0]))
        else:
            phrase = (tuple(parts[1:]), star, category)
            self.phrases.setdefault(parts[0], []).append(phrase)
            exact, prefixed = self.by_second.setdefault(parts[0], ({}, []))
            if star and len(parts) == 2:
                prefixed.append(phrase)
            else:
                exact.setdefault(parts[1], []).append(phrase)

    def categories(self, folded: list[str], i: int) -> dict[str, int]:
        """Categories of cues starting at token ``i`` -> their length in tokens.

        The result may be shared between calls: do not change it.
        """
        tok = folded[i]
        single = self.by_word.get(tok)
        if single is None:
            single = self._one_word(tok)
        index = self.by_second.get(tok)
        if index is None or i + 1 >= len(folded):
            return single
        found = single
        for rest, star, cat in [*index[0].get(folded[i + 1], ()), *index[1]]:
            end = i + len(rest)
            if end >= len(folded):
                continue
            ok = all(folded[i + 1 + k] == w for k, w in enumerate(rest[:-1]))
            last = folded[end]
            ok = ok and (last.startswith(rest[-1]) if star else last == rest[-1])
            if ok:
                if found is single:
                    found = dict(single)
                found[cat] = max(found.get(cat, 0), len(rest) + 1)
        return found

    def _one_word(self, tok: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for cat in self.exact.get(tok, ()):
            found[cat] = 1
        for length in range(2, min(len(tok), self.max_prefix) + 1):
            for cat in self.prefix.get(tok[:length], ()):
                found.setdefault(cat, 1)
        if len(self.by_word) >= _WORD_CACHE:
            self.by_word.clear()
        self.by_word[tok] = found
        return found


_LEX_LOCK = threading.Lock()
_LEX: list[_Lexicon] = []


def _lexicon() -> _Lexicon:
    if _LEX:
        return _LEX[0]
    with _LEX_LOCK:
        if not _LEX:
            _LEX.append(_build_lexicon(_read_toml(CUES_FILE)))
    return _LEX[0]


def _build_lexicon(data: dict[str, Any]) -> _Lexicon:
    lex = _Lexicon()
    for category in ("actor", "act", "venue", "compare", "compare_after", "birth"):
        table = data.get(category)
        if not isinstance(table, dict):
            raise GazetteerError(f"{CUES_FILE}: [{category}] is missing")
        for lang, cues in table.items():
            if not isinstance(cues, list):
                raise GazetteerError(f"{CUES_FILE}: {category}.{lang} is not a list")
            for cue in cues:
                lex.add(category, str(cue))
    for category, key in (("conj", "words"), ("group", "nouns"), ("intro", "intro"),
                          ("locprep", "words")):
        section = "group" if category == "intro" else category
        values = data.get(section, {}).get(key, [])
        if category == "group":
            for cue in values:
                lex.add("group", str(cue))
            continue
        if category == "intro":
            for cue in values:
                lex.add("intro", str(cue))
            continue
        lex.words[category] = frozenset(fold(str(v)) for v in values)
    lex.headings = frozenset(" ".join(fold(w) for w in _TOKEN.findall(str(h)))
                             for h in data.get("headings", {}).get("lines", []))
    return lex


# ---------------------------------------------------------------- the document


@dataclass
class _Doc:
    text: str
    title_end: int
    lead_end: int
    refs_start: int
    spans: list[tuple[int, int]]
    starts: list[int]
    folded: list[str]
    words: list[str]
    sent: list[int]  # sentence number of each token
    cues: list[dict[str, int]]  # categories of cues starting at each token
    citation: list[tuple[int, int]]  # char ranges of citation-like lines
    at: dict[str, list[int]] = field(default_factory=dict)  # category -> its tokens, in order

    def token_at(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self.starts, pos) - 1)

    def in_citation(self, pos: int) -> bool:
        return any(a <= pos < b for a, b in self.citation)

    def tokens_with(self, category: str, lo: int, hi: int) -> list[int]:
        """The tokens in [lo, hi) where a cue of ``category`` starts, in order."""
        where = self.at.get(category)
        if not where:
            return []
        return where[bisect.bisect_left(where, lo):bisect.bisect_left(where, hi)]

    def cue_near(self, category: str, lo: int, hi: int, sentence: int,
                 skip: frozenset[int] = frozenset()) -> str | None:
        """A cue of ``category`` starting at a token in [lo, hi) of the same sentence."""
        for k in self.tokens_with(category, lo, hi):
            if self.sent[k] == sentence and k not in skip:
                end = k + self.cues[k][category] - 1
                if category == "compare" and end + 1 < len(self.folded) and \
                        self.folded[end + 1][:1].isdigit():
                    continue  # "more than 30 countries" is a quantity
                return self.text[self.spans[k][0]:self.spans[end][1]]
        return None


def _analyse(title: str, text: str, lex: _Lexicon) -> _Doc:
    full = f"{title}\n\n{text}"
    title_end = len(title) + 2
    matches = list(_TOKEN.finditer(full))
    spans = [m.span() for m in matches]
    starts = [s for s, _ in spans]
    words = [m.group() for m in matches]
    folded = [fold(w) for w in words]
    # sentences: the title is one; then the body split at . ! ? and line breaks
    bounds = [title_end]
    bounds += [m.end() + title_end for m in _SENT_END.finditer(text)]
    bounds = sorted(set(bounds))
    sent = [bisect.bisect_right(bounds, s) for s in starts]
    # the lead: the first LEAD_SENTENCES real sentences of the body (not datelines)
    lead_end = title_end
    count = 0
    for a, b in zip(bounds, [*bounds[1:], len(full)], strict=False):
        if a < title_end:
            continue
        chunk = full[a:b].strip()
        lead_end = b
        if len(chunk) >= 60:
            count += 1
        if count >= LEAD_SENTENCES:
            break
    refs_start, citation = _references(full, title_end, lex)
    categories = lex.categories
    cues = [categories(folded, i) for i in range(len(folded))]
    at: dict[str, list[int]] = {}
    for k, found in enumerate(cues):
        for category in found:
            at.setdefault(category, []).append(k)
    return _Doc(full, title_end, lead_end, refs_start, spans, starts, folded, words, sent, cues,
                citation, at)


def _references(full: str, title_end: int, lex: _Lexicon) -> tuple[int, list[tuple[int, int]]]:
    refs_start = len(full)
    citation: list[tuple[int, int]] = []
    pos = title_end
    for line in full[title_end:].splitlines(keepends=True):
        stripped = line.strip()
        if refs_start == len(full) and len(stripped) < 60 and " ".join(
                fold(w) for w in _TOKEN.findall(stripped) if not w.isdigit()) in lex.headings:
            refs_start = pos
        elif stripped and _citation_like(stripped):
            citation.append((pos, pos + len(line)))
        pos += len(line)
    return refs_start, citation


# ---------------------------------------------------------------- evidence


@dataclass
class _Tally:
    code: str
    mentions: list[Mention] = field(default_factory=list)
    used: list[Mention] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    score: float = 0.0
    title: bool = False
    lead: bool = False
    home: bool = False
    actor: bool = False
    group: bool = False
    alias: bool = False
    strong: bool = False
    act_sentences: set[int] = field(default_factory=set)
    sentences: set[int] = field(default_factory=set)
    listed_with: set[str] = field(default_factory=set)

    def note(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)


def _token_range(doc: _Doc, m: Mention) -> tuple[int, int]:
    return doc.token_at(m.start), doc.token_at(m.end - 1)


def _joined(doc: _Doc, lex: _Lexicon, a: Mention, b: Mention) -> bool:
    """Two mentions joined only by conjunctions, dashes and commas (same sentence)."""
    if b.start < a.end:
        a, b = b, a
    gap = doc.text[a.end:b.start]
    if len(gap) > 40 or "\n" in gap or any(ch in gap for ch in ".;:!?()"):
        return False
    if not gap.strip() and not b.surface.startswith("و"):
        return False  # "Bakıda Türkiyə ...": side by side is not joined
    words = [fold(w) for w in _TOKEN.findall(gap)]
    if len(words) > 3:
        return False
    conj = lex.words.get("conj", frozenset())
    return all(w in conj for w in words)


def _is_route(doc: _Doc, m: Mention, places: list[Mention]) -> bool:
    """A city joined to another by a dash ("Baku–Tbilisi"); ``places`` are the text's
    city and capital mentions."""
    if m.kind not in _PLACES:
        return False
    for o in places:
        if o is m:
            continue
        gap = doc.text[o.end:m.start] if o.end <= m.start else doc.text[m.end:o.start]
        if gap.strip() in _DASHES and len(gap) <= 3:
            return True
    return False


def _exclusion(doc: _Doc, lex: _Lexicon, m: Mention, places: list[Mention]) -> str | None:
    """Why a mention does not count, if it does not."""
    if m.start >= doc.refs_start:
        return "only in references"
    if doc.in_citation(m.start):
        return "only in citations"
    i, j = _token_range(doc, m)
    s = doc.sent[i]
    # "than in Germany"; head-final languages put it after: "Çinlə müqayisədə"
    cue = doc.cue_near("compare", i - 6, i, s) or \
        doc.cue_near("compare_after", j + 1, j + 4, s)
    if cue:
        return f"comparison ('{cue}')"
    cue = doc.cue_near("birth", i - 4, i, s)
    if cue:
        return f"birthplace ('{cue}')"
    if _is_route(doc, m, places):
        return "route"
    venue = _venue(doc, lex, m, i, j, s)
    if venue:
        return f"venue ('{venue}')"
    return None


def _venue(doc: _Doc, lex: _Lexicon, m: Mention, i: int, j: int, s: int) -> str | None:
    # "Istanbul hosted", "Bakı ev sahibliyi edir"
    after = doc.cue_near("venue", j + 1, j + 2, s)
    if after and fold(after).startswith(("host", "ev sahib")):
        return after
    locative = False
    prep = doc.folded[i - 1] if i > 0 and doc.sent[i - 1] == s else ""
    if prep in lex.words.get("locprep", frozenset()):
        before_prep = i - 2
        if before_prep >= 0 and doc.folded[before_prep] in ("the",):
            before_prep -= 1
        if before_prep >= 0 and "actor" in doc.cues[before_prep]:
            return None  # "clinics in Moscow": an institution's place
        locative = True
    elif _TK_LOCATIVE.search(fold(m.surface)) and m.surface[:1].isupper():
        locative = True
    if not locative:
        return None
    for k in doc.tokens_with("venue", i - 12, j + 12):
        if doc.sent[k] == s:
            return doc.text[doc.spans[k][0]:doc.spans[k][1]]
    return None


def _claimed_actors(doc: _Doc, tallies: dict[str, _Tally]) -> dict[int, str]:
    """Actor words right after a country ("the Uzbek delegation"): token -> its country."""
    claimed: dict[int, str] = {}
    for t in tallies.values():
        for m in t.mentions:
            _, j = _token_range(doc, m)
            for k in (j + 1, j + 2):
                if k < len(doc.cues) and doc.sent[k] == doc.sent[j] and "actor" in doc.cues[k]:
                    claimed.setdefault(k, t.code)
                    break
    return claimed


def _score(doc: _Doc, lex: _Lexicon, tallies: dict[str, _Tally], home: str) -> None:
    claimed = _claimed_actors(doc, tallies)
    for t in tallies.values():
        others = frozenset(k for k, c in claimed.items() if c != t.code)
        for m in t.used:
            i, j = _token_range(doc, m)
            s = doc.sent[i]
            t.sentences.add(s)
            if m.start < doc.title_end and doc.title_end > 2:
                t.title = True
            elif m.start < doc.lead_end:
                t.lead = True
            if m.kind == "alias":
                t.alias = True
                t.note(f"institution '{m.surface}'")
            cue = doc.cue_near("actor", j + 1, j + 3, s) or \
                doc.cue_near("actor", i - 3, i, s, skip=others)
            if cue:
                t.actor = True
                t.note(f"near '{cue}'")
            if doc.cue_near("act", i - 40, j + 40, s):
                t.act_sentences.add(s)
            group = _group_member(doc, i, s)
            if group:
                t.group = True
                t.note(f"named among '{group}'")
    for t in tallies.values():
        if t.code == home:
            continue
        score = 0.0
        if t.title:
            score += W_TITLE
            t.note("in title")
        if t.lead:
            score += W_LEAD
            t.note("in lead")
        if t.home:
            score += W_HOME
        if t.actor:
            score += W_ACTOR
        if t.group:
            score += W_GROUP
        if t.alias:
            score += W_ALIAS
        if t.act_sentences:
            score += W_ACT * min(2, len(t.act_sentences))
            t.note(f"cooperation words in {len(t.act_sentences)} of its sentences")
        if len(t.sentences) > 1:
            score += W_MORE * min(3, len(t.sentences) - 1)
            t.note(f"named in {len(t.sentences)} sentences")
        t.score = round(min(1.0, score), 3)


def _group_member(doc: _Doc, i: int, s: int) -> str | None:
    """'countries, chiefly X': a group noun, then an introducing word, then the name."""
    intro_at = None
    for k in range(i - 1, max(i - 10, -1), -1):
        if doc.sent[k] != s:
            break
        if intro_at is None and "intro" in doc.cues[k]:
            intro_at = k
        if intro_at is not None and "group" in doc.cues[k] and k < intro_at:
            return doc.text[doc.spans[k][0]:doc.spans[k][1]]
    return None


def partner_countries(title: str, text: str, *, home: str = "AZ",
                      gazetteer: Gazetteer | None = None) -> list[CountryEvidence]:
    """Every country mentioned in an item, with whether it is a party, a score and why.

    Offsets in the mentions are in ``title + "\\n\\n" + text``.  The home country is
    never a party; it is listed (``party=False``, reason ``home country``) when named.
    """
    gaz = gazetteer or load_gazetteer()
    lex = _lexicon()
    home = home.upper()
    doc = _analyse(title, text, lex)
    if _OTHER_MARKS.search(doc.text):
        mentions = gaz.find(doc.text)
    else:  # the gazetteer would cut the text into the same words
        mentions = gaz.find_words(doc.text, doc.words, doc.spans, doc.folded)
    tallies: dict[str, _Tally] = {}
    for m in mentions:
        tallies.setdefault(m.code, _Tally(m.code)).mentions.append(m)
    # which mentions count
    places = [m for m in mentions if m.kind in _PLACES]
    for t in tallies.values():
        for m in t.mentions:
            why = _exclusion(doc, lex, m, places)
            if why:
                if why not in t.excluded:
                    t.excluded.append(why)
            else:
                t.used.append(m)
    # weak names count only beside a stronger mention of the same country
    weak_kinds = _weak_mentions(gaz, mentions)
    for t in tallies.values():
        strong = [m for m in t.used if id(m) not in weak_kinds]
        if not strong and t.used:
            t.excluded.append("weak name only")
            t.used = []
    # joined mentions: with the home country, or listed with other countries
    used = sorted((m for t in tallies.values() for m in t.used), key=lambda m: m.start)
    for a, b in itertools.pairwise(used):
        if a.code == b.code or not _joined(doc, lex, a, b):
            continue
        for x, y in ((a, b), (b, a)):
            tx = tallies[x.code]
            if y.code == home:
                tx.home = True
                phrase = doc.text[min(a.start, b.start):max(a.end, b.end)]
                tx.note(f"joined with the home country ('{phrase}')")
            else:
                tx.listed_with.add(y.code)
    _score(doc, lex, tallies, home)
    parties = {c for c, t in tallies.items() if c != home and t.used and t.score >= THRESHOLD}
    # a cooperation item names its partner: the one candidate left is taken
    if not parties:
        candidates = sorted((t for c, t in tallies.items() if c != home and t.used and t.score > 0
                             and (t.actor or t.home or t.title or t.group)),
                            key=lambda t: -t.score)
        if candidates and (len(candidates) == 1 or
                           candidates[0].score - candidates[1].score >= 0.15):
            best = candidates[0]
            if best.score >= 0.3:
                parties.add(best.code)
                best.note("the only candidate")
    # listed with a party: "from Uzbekistan, Kyrgyzstan and Kazakhstan"
    changed = True
    while changed:
        changed = False
        for c, t in tallies.items():
            if c == home or c in parties or not t.used:
                continue
            partner = sorted(t.listed_with & parties)
            if partner:
                parties.add(c)
                t.note(f"listed with {partner[0]}")
                t.score = max(t.score, THRESHOLD)
                changed = True
    out = []
    for c, t in tallies.items():
        reasons = list(t.reasons) + list(t.excluded)
        if c == home:
            reasons = ["home country", *reasons]
        out.append(CountryEvidence(c, c in parties, t.score if c != home else 0.0,
                                   tuple(t.mentions), tuple(reasons)))
    out.sort(key=lambda e: (not e.party, -e.score, e.code))
    return out


def prepare(cache_dir: Path | None = None) -> None:
    """Load the gazetteer (see :func:`load_gazetteer` for ``cache_dir``) and the cue words
    now, rather than on the first text."""
    load_gazetteer(cache_dir)
    _lexicon()


def _weak_mentions(gaz: Gazetteer, mentions: Iterable[Mention]) -> set[int]:
    return {id(m) for m in mentions if gaz.is_weak(m.surface, m.code)}


def party_codes(title: str, text: str, *, home: str = "AZ") -> tuple[str, ...]:
    """The sorted ISO codes of the parties to the cooperation (never the home country)."""
    return tuple(sorted(e.code for e in partner_countries(title, text, home=home) if e.party))
