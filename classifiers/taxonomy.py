"""The health-domain taxonomy: the labeling guide's fifteen domain ids as data, with cue terms.

The data lives in ``taxonomy.toml`` beside this module (its header documents the term
syntax). :func:`load_taxonomy` reads and validates it; nothing is read or compiled at import
time. Matching is language-independent: every cue of every language is tried on every text,
so a Russian quote inside an English article still counts.

Matching works on a *folded* copy of the text that has exactly the same length, so every
offset in a :class:`~classifiers.types.CueHit` points into the text given:

- lower case, with the Turkish and Azerbaijani ``I İ ı i`` all read as ``i``;
- ``ё`` as ``е``, Turkish ``â î û`` as ``a i u``;
- Arabic and Persian letter variants unified (``أ إ آ ٱ`` as ``ا``, ``ة`` as ``ه``,
  ``ي ى`` as ``ی``, ``ك`` as ``ک``); the zero-width non-joiner separates words.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from classifiers.errors import TaxonomyError
from classifiers.types import CueHit

__all__ = [
    "CORE_LANGUAGES",
    "DOMAIN_IDS",
    "MIN_CUES",
    "MIN_RELEVANCE_CUES",
    "RELEVANCE_KINDS",
    "Domain",
    "Taxonomy",
    "fold",
    "load_taxonomy",
]

#: The labeling guide's fifteen domain ids, in the guide's order.
DOMAIN_IDS: tuple[str, ...] = (
    "cardiology",
    "oncology",
    "surgery-transplant",
    "infectious-disease",
    "humanitarian-aid",
    "traditional-medicine",
    "medical-education",
    "research",
    "digital-health",
    "telemedicine",
    "medical-tourism",
    "pharmaceuticals",
    "health-policy",
    "maternal-child-health",
    "rehabilitation",
)
#: Languages every domain and every relevance kind must have cues in.
CORE_LANGUAGES: tuple[str, ...] = ("en", "az", "ru", "tr")
#: Kinds of relevance cues: cooperation words, health words, words of other fields.
RELEVANCE_KINDS: tuple[str, ...] = ("cooperation", "health", "other_fields")
#: Fewest positive cue terms a domain needs in each core language.
MIN_CUES = 20
#: Fewest positive cue terms a relevance kind needs in each core language.
MIN_RELEVANCE_CUES = 15

SCHEMA = 1
_MIN_STEM = 3  # letters of a stem in a first word (later words of a phrase: 2)
_WORD_CACHE = 200_000  # distinct words whose matching terms a matcher keeps
_TOP_KEYS = ("schema", "domains", "relevance")
_DOMAIN_KEYS = ("label", "description", "cues")
_LANGUAGE = re.compile(r"[a-z]{2}")
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r"\w+")
_GAP = re.compile(r"[\s\-\u2010-\u2014'\u2019\u02bc]+")
_SEPARATOR = re.compile(r"[ \-'\u2019\u02bc]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")

_Fail = Callable[[str, str], TaxonomyError]

_FOLD_PAIRS: tuple[tuple[str, str], ...] = tuple(
    {
        "ı": "i",
        "ё": "е",
        "â": "a",
        "î": "i",
        "û": "u",
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ة": "ه",
        "ي": "ی",
        "ى": "ی",
        "ك": "ک",
        "\u200c": " ",
    }.items()
)


def fold(text: str) -> str:
    """Fold ``text`` for matching; the result has the same length, character for character."""
    # 'İ'.lower() is the only lower-casing that changes length ('i' + combining dot).
    folded = text.replace("\u0130", "i").lower()
    for old, new in _FOLD_PAIRS:
        if old in folded:
            folded = folded.replace(old, new)
    return folded


@dataclass(frozen=True)
class Domain:
    """One domain of the labeling guide, with its cue terms per language."""

    id: str
    label: str
    description: str
    cues: Mapping[str, tuple[str, ...]]  # ISO 639-1 language -> terms as written

    def terms(self) -> tuple[str, ...]:
        """Every cue term of every language, in file order (exclusions included)."""
        return tuple(term for terms in self.cues.values() for term in terms)

    def __hash__(self) -> int:
        return hash((self.id, self.label, self.description, tuple(self.cues.items())))


@dataclass(frozen=True)
class Taxonomy:
    """The validated taxonomy; build it with :func:`load_taxonomy`."""

    domains: tuple[Domain, ...]
    relevance: Mapping[str, Mapping[str, tuple[str, ...]]]  # kind -> language -> terms
    version: str  # first 12 hex digits of the sha256 of the canonical content

    def __hash__(self) -> int:
        return hash(self.version)

    def ids(self) -> tuple[str, ...]:
        """The domain ids, in the guide's order."""
        return tuple(domain.id for domain in self.domains)

    def domain(self, domain_id: str) -> Domain:
        """The domain with this id; ``KeyError`` if there is none."""
        for domain in self.domains:
            if domain.id == domain_id:
                return domain
        raise KeyError(domain_id)

    def find_cues(self, text: str) -> list[CueHit]:
        """Domain cue terms found in ``text``, in text order (``CueHit.domain`` is the id).

        Within one domain hits do not overlap (the longest match starting leftmost wins);
        hits of different domains may overlap.
        """
        return self._domain_matcher.find(text)

    def find_relevance_cues(self, text: str) -> dict[str, list[CueHit]]:
        """Relevance cue terms found in ``text``: every kind, each with its hits in text order.

        ``CueHit.domain`` holds the kind (``cooperation``, ``health``, ``other_fields``).
        """
        found: dict[str, list[CueHit]] = {kind: [] for kind in self.relevance}
        for hit in self._relevance_matcher.find(text):
            found[hit.domain].append(hit)
        return found

    def prepare(self) -> None:
        """Index the cue terms for :meth:`scan` now, rather than on the first text."""
        _ = self._matcher

    def scan(self, text: str) -> tuple[list[CueHit], dict[str, list[CueHit]]]:
        """:meth:`find_cues` and :meth:`find_relevance_cues` of ``text`` in one pass."""
        cues: list[CueHit] = []
        found: dict[str, list[CueHit]] = {kind: [] for kind in self.relevance}
        for hit in self._matcher.find(text):
            kind = found.get(hit.domain)
            if kind is None:
                cues.append(hit)
            else:
                kind.append(hit)
        return cues, found

    @functools.cached_property
    def _domain_matcher(self) -> _Matcher:
        return _Matcher(self._terms(domains=True))

    @functools.cached_property
    def _relevance_matcher(self) -> _Matcher:
        return _Matcher(self._terms(relevance=True))

    @functools.cached_property
    def _matcher(self) -> _Matcher:
        """Domains and relevance kinds together (their ids differ)."""
        return _Matcher(self._terms(domains=True, relevance=True))

    def _terms(self, *, domains: bool = False, relevance: bool = False) -> list[_Term]:
        terms: list[_Term] = []
        if domains:
            terms += [_parse_term(term, group=domain.id) for domain in self.domains
                      for terms_ in domain.cues.values() for term in terms_]
        if relevance:
            terms += [_parse_term(term, group=kind) for kind, languages in self.relevance.items()
                      for terms_ in languages.values() for term in terms_]
        return terms


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file; by default the packaged ``taxonomy.toml`` (cached).

    Raises :class:`TaxonomyError` naming the offending key.
    """
    if path is None:
        return _load_default()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read the taxonomy: {exc}") from exc
    return _build(data, source=str(path))


@functools.cache
def _load_default() -> Taxonomy:
    resource = resources.files("classifiers").joinpath("taxonomy.toml")
    return _build(resource.read_bytes(), source="classifiers/taxonomy.toml")


# --- validation -------------------------------------------------------------------------------


def _build(data: bytes, *, source: str) -> Taxonomy:
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TaxonomyError(f"{source}: not valid UTF-8 TOML: {exc}") from exc

    def fail(key: str, message: str) -> TaxonomyError:
        return TaxonomyError(f"{source}: {key}: {message}")

    for key in raw:
        if key not in _TOP_KEYS:
            raise fail(key, f"unknown key (expected {', '.join(_TOP_KEYS)})")
    if raw.get("schema") != SCHEMA:
        raise fail("schema", f"must be {SCHEMA}, got {raw.get('schema')!r}")

    tables = _table(raw.get("domains"), "domains", fail)
    for domain_id in tables:
        if domain_id not in DOMAIN_IDS:
            raise fail(f"domains.{domain_id}", "unknown domain id (see the labeling guide)")
    domains: list[Domain] = []
    for domain_id in DOMAIN_IDS:
        key = f"domains.{domain_id}"
        if domain_id not in tables:
            raise fail(key, "missing (the guide has fifteen domains)")
        table = _table(tables[domain_id], key, fail)
        for name in table:
            if name not in _DOMAIN_KEYS:
                raise fail(f"{key}.{name}", f"unknown key (expected {', '.join(_DOMAIN_KEYS)})")
        texts = {}
        for name in ("label", "description"):
            value = table.get(name)
            if not isinstance(value, str) or not value.strip():
                raise fail(f"{key}.{name}", "must be a non-empty string")
            texts[name] = value.strip()
        cues = _cue_table(table.get("cues"), f"{key}.cues", MIN_CUES, fail)
        domains.append(Domain(domain_id, texts["label"], texts["description"], cues))

    kinds = _table(raw.get("relevance"), "relevance", fail)
    for kind in kinds:
        if kind not in RELEVANCE_KINDS:
            raise fail(f"relevance.{kind}", f"unknown kind (expected {', '.join(RELEVANCE_KINDS)})")
    relevance: dict[str, Mapping[str, tuple[str, ...]]] = {}
    for kind in RELEVANCE_KINDS:
        if kind not in kinds:
            raise fail(f"relevance.{kind}", "missing")
        relevance[kind] = _cue_table(kinds[kind], f"relevance.{kind}", MIN_RELEVANCE_CUES, fail)

    return Taxonomy(
        domains=tuple(domains),
        relevance=MappingProxyType(relevance),
        version=_version(domains, relevance),
    )


def _table(value: Any, key: str, fail: _Fail) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(key, "missing or not a table")
    return value


def _cue_table(value: Any, key: str, minimum: int, fail: _Fail) -> Mapping[str, tuple[str, ...]]:
    table = _table(value, key, fail)
    cues: dict[str, tuple[str, ...]] = {}
    positive: dict[str, int] = {}
    for language, terms in table.items():
        lkey = f"{key}.{language}"
        if not _LANGUAGE.fullmatch(language):
            raise fail(lkey, "a language must be an ISO 639-1 code in lower case")
        if not isinstance(terms, list) or not terms:
            raise fail(lkey, "must be a non-empty list of terms")
        seen: dict[str, int] = {}
        positive[language] = 0
        for index, term in enumerate(terms):
            tkey = f"{lkey}[{index}]"
            if not isinstance(term, str):
                raise fail(tkey, "a term must be a string")
            try:
                parsed = _parse_term(term, group="")
            except ValueError as exc:
                raise fail(tkey, f"{term!r}: {exc}") from exc
            if parsed.key in seen:
                raise fail(tkey, f"{term!r} duplicates item {seen[parsed.key]} of the list")
            seen[parsed.key] = index
            positive[language] += not parsed.negative
        cues[language] = tuple(terms)
    for language in CORE_LANGUAGES:
        count = positive.get(language, 0)
        if count < minimum:
            raise fail(f"{key}.{language}", f"needs at least {minimum} cue terms, has {count}")
    return MappingProxyType(cues)


def _version(
    domains: Iterable[Domain], relevance: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> str:
    canonical = {
        "schema": SCHEMA,
        "domains": [
            {
                "id": d.id,
                "label": d.label,
                "description": d.description,
                "cues": {lang: sorted(terms) for lang, terms in d.cues.items()},
            }
            for d in domains
        ],
        "relevance": {
            kind: {lang: sorted(terms) for lang, terms in langs.items()}
            for kind, langs in relevance.items()
        },
    }
    blob = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


# --- terms and matching ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    text: str  # folded, without '*'
    prefix: bool  # 'stem*': any word beginning with text
    suffix: bool = False  # '*stem': any word ending with text (first word only)


@dataclass(frozen=True, slots=True)
class _Term:
    raw: str
    group: str
    negative: bool
    words: tuple[_Word, ...]  # empty for an anywhere term
    anywhere: str  # folded CJK term matched as a substring, or ""

    @property
    def key(self) -> str:
        """Normal form: two terms with the same key match the same texts."""
        if self.anywhere:
            body = self.anywhere
        else:
            body = " ".join(
                ("*" if w.suffix else "") + w.text + ("*" if w.prefix else "") for w in self.words
            )
        return ("!" if self.negative else "") + body


def _parse_term(raw: str, *, group: str) -> _Term:
    """Parse one cue term (syntax in taxonomy.toml's header); ``ValueError`` says what is wrong."""
    if not raw or raw != raw.strip():
        raise ValueError("empty, or leading or trailing whitespace")
    negative = raw.startswith("!")
    body = fold(raw[1:] if negative else raw)
    if _CJK.search(body):
        if not _WORD.fullmatch(body) or len(body) < 2:
            raise ValueError("a CJK term is two or more letters with no spaces, '*' or marks")
        return _Term(raw, group, negative, (), body)
    parts = _SEPARATOR.split(body)
    words: list[_Word] = []
    for index, part in enumerate(parts):
        suffix = part.startswith("*")
        prefix = part.endswith("*") and len(part) > 1
        core = part[1 if suffix else 0 : len(part) - 1 if prefix else len(part)]
        if not core:
            raise ValueError("empty word (doubled space or hyphen, or a lone '*')")
        if not _WORD.fullmatch(core):
            raise ValueError(f"word {part!r}: only letters and digits, '*' at the ends")
        if suffix and index:
            raise ValueError("only the first word may begin with '*'")
        if (prefix or suffix) and len(core) < (_MIN_STEM if index == 0 else 2):
            raise ValueError(f"stem {part!r} is too short")
        words.append(_Word(core, prefix, suffix))
    if len(words) == 1 and len(words[0].text) < 2:
        raise ValueError("a one-word term needs at least two letters")
    return _Term(raw, group, negative, tuple(words), "")


# A candidate hit: (group index, start, -end, positive, sequence number, term): sorted
# as tuples, the order _select needs (a tie keeps the order found).
_Candidate = tuple[int, int, int, bool, int, _Term]


_RANKS = 1 << 20  # candidates of one word are ranked below this (more terms than that: none)
_Ranked = tuple[int, bool, int, _Term]  # group index, positive, rank among the word's terms


class _Start:
    """The terms one word begins, in matching order: one-word terms, and phrases by their
    second word (exact, or the first two letters of a ``stem*``)."""

    __slots__ = ("by_second", "by_stem", "empty", "phrases", "single")

    def __init__(self, groups: Mapping[str, int], terms: list[_Term]) -> None:
        self.single: list[_Ranked] = []
        self.by_second: dict[str, list[_Ranked]] = {}
        self.by_stem: dict[str, list[_Ranked]] = {}
        for order, term in enumerate(terms):
            ranked = (groups[term.group], not term.negative, order, term)
            if len(term.words) == 1:
                self.single.append(ranked)
                continue
            second = term.words[1]
            table = self.by_stem if second.prefix else self.by_second
            table.setdefault(second.text[:2] if second.prefix else second.text, []).append(ranked)
        self.phrases = bool(self.by_second or self.by_stem)
        self.empty = not (self.single or self.phrases)


class _Matcher:
    """All terms of one family (domains or relevance kinds), indexed once for fast lookup.

    The terms a word can begin are worked out once per distinct word and kept (up to
    ``_WORD_CACHE`` words): exact first words, then ``stem*`` prefixes, then ``*stem``
    suffixes (the longest stem first).
    """

    def __init__(self, terms: Iterable[_Term]) -> None:
        self._exact: dict[str, list[_Term]] = {}
        self._prefix: dict[str, list[_Term]] = {}  # first _MIN_STEM letters -> terms
        self._inner: list[_Term] = []  # terms whose first stem has '*' before it
        self._anywhere: dict[str, list[_Term]] = {}  # first letter -> CJK terms
        self._groups: dict[str, int] = {}
        self._words: dict[str, _Start] = {}
        for term in terms:
            self._groups.setdefault(term.group, len(self._groups))
            if term.anywhere:
                self._anywhere.setdefault(term.anywhere[0], []).append(term)
                continue
            first = term.words[0]
            if first.suffix:
                self._inner.append(term)
            elif first.prefix:
                self._prefix.setdefault(first.text[:_MIN_STEM], []).append(term)
            else:
                self._exact.setdefault(first.text, []).append(term)
        self._inner.sort(key=lambda term: -len(term.words[0].text))

    def _starting(self, token: str) -> _Start:
        """The terms whose first word matches ``token``, kept for the next time."""
        start = self._words.get(token)
        if start is not None:
            return start
        terms = list(self._exact.get(token, ()))
        terms += [term for term in self._prefix.get(token[:_MIN_STEM], ())
                  if token.startswith(term.words[0].text)]
        for term in self._inner:
            first = term.words[0]
            if (first.text in token) if first.prefix else token.endswith(first.text):
                terms.append(term)
        start = _Start(self._groups, terms)
        if len(self._words) >= _WORD_CACHE:
            self._words.clear()
        self._words[token] = start
        return start

    def find(self, text: str) -> list[CueHit]:
        folded = fold(text)
        tokens: list[str] = _TOKEN.findall(folded)
        matches = list(_TOKEN.finditer(folded))  # spans only where a term starts
        found: list[_Candidate] = []
        n = len(tokens)
        gaps: list[bool | None] = [None] * n  # whether a phrase may go on into word k

        def gap(k: int) -> bool:
            ok = gaps[k]
            if ok is None:
                ok = gaps[k] = _GAP.fullmatch(folded, matches[k - 1].end(),
                                              matches[k].start()) is not None
            return ok

        known = self._words.get
        for index, token in enumerate(tokens):
            start = known(token) or self._starting(token)
            if start.empty:
                continue
            begin, end = matches[index].span()
            rank = index * _RANKS
            for group, positive, order, term in start.single:
                found.append((group, begin, -end, positive, rank + order, term))
            if not start.phrases or index + 1 >= n or not gap(index + 1):
                continue
            second = tokens[index + 1]
            phrases = [*start.by_second.get(second, ()),
                       *(p for p in start.by_stem.get(second[:2], ())
                         if second.startswith(p[3].words[1].text))]
            for group, positive, order, term in phrases:
                last = index + 1
                for word in term.words[2:]:
                    if last + 1 >= n or not gap(last + 1):
                        break
                    last += 1
                    if not (tokens[last].startswith(word.text) if word.prefix
                            else tokens[last] == word.text):
                        break
                else:
                    found.append((group, begin, -matches[last].end(), positive, rank + order,
                                  term))
        if self._anywhere and tokens:
            rank = n * _RANKS
            for letter in set(folded).intersection(self._anywhere):
                for term in self._anywhere[letter]:
                    at = folded.find(term.anywhere)
                    group = self._groups[term.group]
                    while at >= 0:
                        found.append((group, at, -at - len(term.anywhere), not term.negative,
                                      rank + len(found), term))
                        at = folded.find(term.anywhere, at + 1)
        return self._select(found)

    def _select(self, found: list[_Candidate]) -> list[CueHit]:
        """Per group, leftmost-longest without overlap; an exclusion ('!') wins and hides."""
        found.sort()
        kept: list[tuple[int, int, int, str]] = []
        group, reach = -1, -1
        for index, start, end, positive, _, term in found:
            if index != group:
                group, reach = index, -1
            if start < reach:
                continue
            reach = -end
            if positive:
                kept.append((start, -end, index, term.raw))
        kept.sort()
        names = list(self._groups)
        return [CueHit(names[index], raw, start, end) for start, end, index, raw in kept]
