"""Training examples: labeled items, their passages, honest negatives and cue snippets.

The five seed documents are all relevant, so everything the models learn about what is
*not* relevant has to come from somewhere honest. Every example below follows from the
labeling guide's own definition of relevance (health or medical cooperation between
countries; not domestic health news, not cooperation in other fields):

1. **Labeled items**: the seeds and any extra items given (stored human labels,
   ``--extra`` files), each as a whole document with its labels.
2. **Passages** of the labeled items (:func:`~classifiers.dataset.split_passages`; one
   document gives many examples). A passage of a relevant item is relevant when it
   names one of the item's labeled countries *and* has a health cue; it is not relevant
   when it has neither (a by-line, a footer); otherwise it says too little on its own
   and trains only the domain model. A passage's domains are the item's domains whose
   cue terms it contains: a domain the passage does not speak of is not learned from
   it. Passages of an item labeled not relevant are not relevant.
3. **Domestic health news** (negatives), from each relevant document and passage:
   (a) the party countries cut out (names, demonyms, cities, institutions, as the
   gazetteer finds them; countries only mentioned stay): health news with no foreign
   party; (b) the home country and every party but one cut out (each party in turn): its own
   health news, involving neither the home country nor a second party. The guide
   calls both not relevant; each is kept only when the gazetteer then agrees.
4. **No health** (negatives): the same texts with every health and domain cue term cut
   out, and again with each replaced by a term of the taxonomy's ``other_fields``
   (energy, trade, culture, ...) in the text's language: cooperation in other fields.
   Kept only when no health cue is left.
5. **Cue snippets** (weak labels, for the domain words only): short texts made of the
   taxonomy's cue terms, in every language the taxonomy has: a country name (from
   pycountry's translations) + a cooperation term + terms of one or two domains, and
   the domain terms alone; tagged with those domains. They carry each domain's
   vocabulary into the languages the seeds lack. They say nothing about relevance (a
   bag of terms is not news), so the relevance model does not see them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from classifiers.dataset import split_passages
from classifiers.features import Analysis, Featurizer
from classifiers.types import LabeledItem

__all__ = ["Example", "Vocabulary", "build_examples", "country_names"]

SNIPPETS_PER_DOMAIN = 4
_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True, slots=True)
class Example:
    """One training example; a ``None`` label leaves it out of that model."""

    title: str
    text: str
    relevant: bool | None
    domains: tuple[str, ...] | None
    group: str  # examples of one group never straddle a cross-validation fold
    source: str  # item | passage | domestic | abroad | other-fields | snippet
    weight: float = 1.0


def _plain_terms(terms: Sequence[str]) -> list[str]:
    """Cue terms as words: exclusions ('!') dropped, stem marks ('*') removed."""
    return [t.replace("*", "") for t in terms if not t.startswith("!")]


def country_names(home: str, languages: Sequence[str]) -> dict[str, list[str]]:
    """Names of the world's countries (not the home country) in each language.

    English names from pycountry (the common name where there is one), the others from
    pycountry's translations (gettext domain ``iso3166-1``); a language without
    translations gets none.
    """
    import gettext

    import pycountry

    countries = [c for c in pycountry.countries if c.alpha_2 != home]
    out: dict[str, list[str]] = {}
    for lang in languages:
        if lang == "en":
            out[lang] = [getattr(c, "common_name", None) or c.name for c in countries]
            continue
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        except OSError:
            continue
        out[lang] = [tr.gettext(c.name) for c in countries if tr.gettext(c.name) != c.name]
    return out


class Vocabulary:
    """The taxonomy's cue terms and country names, by language."""

    def __init__(self, taxonomy: object, home: str) -> None:
        domains = getattr(taxonomy, "domains", ())
        relevance: Mapping[str, Mapping[str, Sequence[str]]] = getattr(taxonomy, "relevance", {})
        self._domains = {d.id: {lang: _plain_terms(t) for lang, t in d.cues.items()}
                         for d in domains}
        self._kinds = {k: {lang: _plain_terms(t) for lang, t in by_lang.items()}
                       for k, by_lang in relevance.items()}
        self._countries = country_names(home, self.languages())

    def languages(self) -> list[str]:
        return sorted({lang for by_lang in self._domains.values() for lang in by_lang})

    def domain(self, domain: str, lang: str) -> list[str]:
        return list(self._domains.get(domain, {}).get(lang, ()))

    def kind(self, kind: str, lang: str) -> list[str]:
        by_lang = self._kinds.get(kind, {})
        return list(by_lang.get(lang) or by_lang.get("en") or ())

    def countries(self, lang: str) -> list[str]:
        return list(self._countries.get(lang, ()))


def _cut(text: str, spans: Sequence[tuple[int, int]], fill: Sequence[str] = ()) -> str:
    """``text`` with ``spans`` replaced by ``fill`` (cycled) or removed."""
    out: list[str] = []
    last = 0
    for i, (start, end) in enumerate(sorted(set(spans))):
        if start < last:
            continue
        out.append(text[last:start])
        out.append(fill[i % len(fill)] if fill else "")
        last = end
    out.append(text[last:])
    return _SPACES.sub(" ", "".join(out))


class _Builder:
    def __init__(self, featurizer: Featurizer, rng: random.Random,
                 cache: dict[tuple[str, str], Analysis]) -> None:
        self.f = featurizer
        self.rng = rng
        self.cache = cache
        self.vocab = Vocabulary(featurizer.taxonomy, featurizer.home)

    def analyse(self, text: str, title: str = "") -> Analysis:
        key = (title, text)
        if key not in self.cache:
            self.cache[key] = self.f.analyse(title, text)
        return self.cache[key]

    def _variants(self, title: str, text: str, group: str, language: str) -> list[Example]:
        """The domestic, abroad, no-health and other-field variants of a relevant text."""
        out: list[Example] = []
        a = self.analyse(text, title)
        joined = f"{title}\n\n{text}"  # the offsets of the analysis refer to this
        home = self.f.home

        def spans(codes: set[str] | tuple[str, ...]) -> list[tuple[int, int]]:
            return [(m.start, m.end) for e in a.countries if e.code in codes for m in e.mentions]

        def add(changed: str, source: str, keep: Callable[[Analysis], bool]) -> None:
            new_title, _, new_text = changed.partition("\n\n")
            if new_text.strip() and keep(self.analyse(new_text, new_title)):
                out.append(Example(new_title, new_text, False, None, group, source))

        if a.parties:
            add(_cut(joined, spans(a.parties)), "domestic", lambda b: not b.parties)
            for party in a.parties:
                add(_cut(joined, spans({home, *a.parties} - {party})), "abroad",
                    lambda b, p=party: b.parties == (p,) and  # type: ignore[misc]
                    not any(e.code == home for e in b.countries))
        health = [(h.start, h.end) for h in a.domain_hits]
        health += [(h.start, h.end) for h in a.relevance_hits.get("health", ())]
        if not health:
            return out
        others = self.vocab.kind("other_fields", language)
        fills: list[tuple[str, list[str]]] = [("no-health", [])]
        if others:
            fills.append(("other-fields", [self.rng.choice(others) for _ in health]))
        for source, fill in fills:
            add(_cut(joined, health, fill), source,
                lambda b: not b.domain_hits and not b.relevance_hits.get("health"))
        return out

    def from_item(self, item: LabeledItem, target_chars: int) -> list[Example]:
        lang = item.language or "en"
        out = [Example(item.title, item.text, item.relevant,
                       item.domains if item.relevant else None, item.id, "item", 2.0)]
        if item.relevant:
            out += self._variants(item.title, item.text, item.id, lang)
        for passage in split_passages(item.text, target_chars=target_chars):
            a = self.analyse(passage)
            named = any(e.code in item.countries and e.mentions for e in a.countries)
            health = bool(a.domain_hits or a.relevance_hits.get("health"))
            said = {h.domain for h in a.domain_hits}
            domains = tuple(d for d in item.domains if d in said) if health else None
            if not item.relevant:
                out.append(Example("", passage, False, None, item.id, "passage"))
            elif named and health:
                out.append(Example("", passage, True, domains, item.id, "passage"))
                out += self._variants("", passage, item.id, lang)
            elif not named and not health:
                out.append(Example("", passage, False, None, item.id, "passage"))
            elif domains is not None:
                out.append(Example("", passage, None, domains, item.id, "passage"))
        return out

    def snippets(self) -> list[Example]:
        v, rng = self.vocab, self.rng
        out: list[Example] = []
        for lang in v.languages():
            coop, names = v.kind("cooperation", lang), v.countries(lang)
            domains = [d for d in self.f.domain_ids if v.domain(d, lang)]
            for d in domains:
                for k in range(SNIPPETS_PER_DOMAIN):
                    tags = [d] if k % 2 == 0 or len(domains) < 2 else [d, rng.choice(domains)]
                    terms = [t for tag in tags for t in rng.sample(
                        v.domain(tag, lang), min(2, len(v.domain(tag, lang))))]
                    group = f"snippet:{lang}:{d}"
                    labels = tuple(dict.fromkeys(tags))
                    if names and coop:
                        text = f"{rng.choice(names)} {rng.choice(coop)} {', '.join(terms)}."
                        out.append(Example("", text, None, labels, group, "snippet", 0.5))
                    out.append(Example("", ", ".join(terms) + ".", None, labels, group,
                                       "snippet", 0.5))
        return out


def build_examples(
    items: Sequence[LabeledItem], featurizer: Featurizer, *, seed: int = 0,
    target_chars: int = 700, cache: dict[tuple[str, str], Analysis] | None = None,
) -> list[Example]:
    """All training examples (see the module docstring), in a fixed order for ``seed``.

    ``cache`` collects the analyses made on the way, keyed by ``(title, text)``.
    """
    builder = _Builder(featurizer, random.Random(seed), {} if cache is None else cache)
    out: list[Example] = []
    for item in items:
        out += builder.from_item(item, target_chars)
    return out + builder.snippets()
