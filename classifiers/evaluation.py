"""How well a classifier agrees with labeled items.

Three answers per item, scored as the labeling guide defines them:

- **relevance**: precision, recall and F1 of ``relevant`` (the positive class);
- **countries**: micro precision, recall and F1 of the predicted country codes against
  the labeled ones, over the items labeled relevant (an item predicted not relevant
  contributes its labeled countries as misses);
- **domains**: the same, micro and macro (the mean of the per-domain F1 over domains
  that occur in the labels or the predictions of the group), and per domain.

Each is given overall (``all``), per language, and for the two halves ``en`` and
``non-en``. A figure with nothing to count (no positives labeled or predicted) is
``None`` and shows as ``-``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from classifiers.prediction import Classifier
from classifiers.types import LabeledItem, Prediction

__all__ = ["EvaluationReport", "GroupScores", "Scores", "cross_validate", "evaluate", "score"]


@dataclass(frozen=True, slots=True)
class Scores:
    """Counts and the precision, recall and F1 they give (``None`` when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        if self.tp + self.fp + self.fn == 0:
            return None
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def __add__(self, other: Scores) -> Scores:
        return Scores(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict[str, Any]:
        r = {k: None if v is None else round(v, 4)
             for k, v in (("precision", self.precision), ("recall", self.recall),
                          ("f1", self.f1))}
        return {**r, "tp": self.tp, "fp": self.fp, "fn": self.fn}


def _sets(gold: Iterable[str], pred: Iterable[str]) -> Scores:
    g, p = set(gold), set(pred)
    return Scores(len(g & p), len(p - g), len(g - p))


@dataclass(frozen=True, slots=True)
class GroupScores:
    """The figures of one group of items (all, a language, en / non-en)."""

    items: int
    relevant_items: int
    relevance: Scores
    countries: Scores
    domains: Scores
    per_domain: dict[str, Scores] = field(default_factory=dict)

    @property
    def domains_macro_f1(self) -> float | None:
        f1s = [s.f1 for s in self.per_domain.values() if s.f1 is not None]
        return sum(f1s) / len(f1s) if f1s else None

    def to_dict(self) -> dict[str, Any]:
        macro = self.domains_macro_f1
        return {
            "items": self.items,
            "relevant_items": self.relevant_items,
            "relevance": self.relevance.to_dict(),
            "countries_micro": self.countries.to_dict(),
            "domains_micro": self.domains.to_dict(),
            "domains_macro_f1": None if macro is None else round(macro, 4),
            "per_domain": {d: s.to_dict() for d, s in sorted(self.per_domain.items())},
        }


def _group(pairs: Sequence[tuple[LabeledItem, Prediction]], domain_ids: Sequence[str]) -> (
    GroupScores
):
    rel, ctry, dom = Scores(), Scores(), Scores()
    per = {d: Scores() for d in domain_ids}
    for gold, pred in pairs:
        rel += Scores(int(gold.relevant and pred.relevant),
                      int(pred.relevant and not gold.relevant),
                      int(gold.relevant and not pred.relevant))
        if not gold.relevant:
            continue
        ctry += _sets(gold.countries, pred.countries)
        dom += _sets(gold.domains, pred.domains)
        for d in set(gold.domains) | set(pred.domains):
            per[d] = per.get(d, Scores()) + _sets([d] if d in gold.domains else [],
                                                  [d] if d in pred.domains else [])
    return GroupScores(len(pairs), sum(1 for g, _ in pairs if g.relevant), rel, ctry, dom,
                       {d: s for d, s in per.items() if s.tp + s.fp + s.fn})


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Figures per group; ``groups["all"]``, ``["en"]``, ``["non-en"]`` and each language."""

    groups: dict[str, GroupScores]
    model_version: str = ""
    note: str = ""

    @property
    def overall(self) -> GroupScores:
        return self.groups["all"]

    def to_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "note": self.note,
                "groups": {k: v.to_dict() for k, v in self.groups.items()}}

    def table(self) -> str:
        """A plain-text table: one row per group, then per-domain figures overall."""
        def f(v: float | None) -> str:
            return "   -" if v is None else f"{v:4.2f}"

        head = (f"{'group':<8} {'items':>5} {'rel':>4} | {'relevance P/R/F1':<16} | "
                f"{'countries P/R/F1':<16} | {'domains P/R/F1':<16} | macro")
        lines = [head, "-" * len(head)]
        for name, g in self.groups.items():
            cells = [f"{f(s.precision)} {f(s.recall)} {f(s.f1)}"
                     for s in (g.relevance, g.countries, g.domains)]
            lines.append(f"{name:<8} {g.items:>5} {g.relevant_items:>4} | {cells[0]:<16} | "
                         f"{cells[1]:<16} | {cells[2]:<16} | {f(g.domains_macro_f1)}")
        per = self.overall.per_domain
        if per:
            lines += ["", f"{'domain (all)':<24} {'P':>4} {'R':>4} {'F1':>4}  tp fp fn"]
            for d, s in sorted(per.items()):
                lines.append(f"{d:<24} {f(s.precision)} {f(s.recall)} {f(s.f1)}  "
                             f"{s.tp:>2} {s.fp:>2} {s.fn:>2}")
        return "\n".join(lines)


def score(
    items: Sequence[LabeledItem],
    predictions: Sequence[Prediction],
    domain_ids: Sequence[str] = (),
    *,
    model_version: str = "",
    note: str = "",
) -> EvaluationReport:
    """Compare predictions with labels (matched by id)."""
    by_id = {p.id: p for p in predictions}
    missing = [i.id for i in items if i.id not in by_id]
    if missing:
        raise ValueError(f"no prediction for {len(missing)} item(s), e.g. {missing[0]!r}")
    pairs = [(i, by_id[i.id]) for i in items]
    groups: dict[str, list[tuple[LabeledItem, Prediction]]] = {
        "all": pairs,
        "en": [p for p in pairs if p[0].language == "en"],
        "non-en": [p for p in pairs if p[0].language != "en"],
    }
    for pair in sorted(pairs, key=lambda p: p[0].language or "?"):
        if pair[0].language != "en":
            groups.setdefault(pair[0].language or "?", []).append(pair)
    return EvaluationReport({k: _group(v, domain_ids) for k, v in groups.items() if v},
                            model_version, note)


def evaluate(classifier: Classifier, items: Sequence[LabeledItem]) -> EvaluationReport:
    """Predict ``items`` with ``classifier`` and score the predictions."""
    predictions = classifier.predict([i.document for i in items])
    return score(items, predictions, classifier.domain_ids, model_version=classifier.version)


def cross_validate(
    items: Sequence[LabeledItem],
    *,
    folds: int = 5,
    seed: int = 0,
    base: Sequence[LabeledItem] | None = None,
    home: str = "AZ",
    taxonomy: Any = None,
) -> EvaluationReport:
    """Train on ``base`` (default: the seeds) plus k-1 folds, predict the held-out fold.

    Folds are stratified by language and relevance (items dealt round-robin in a seeded
    shuffle); every item is predicted once, by a model that never saw it.
    """
    from classifiers.dataset import load_seeds
    from classifiers.training import train

    if folds < 2 or folds > len(items):
        raise ValueError(f"folds must be between 2 and the number of items ({len(items)})")
    base_items = list(load_seeds() if base is None else base)
    order = list(items)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: (i.language or "?", i.relevant))
    fold_items: list[list[LabeledItem]] = [order[k::folds] for k in range(folds)]
    predictions: list[Prediction] = []
    domain_ids: Sequence[str] = ()
    for k in range(folds):
        rest = [i for j, f in enumerate(fold_items) if j != k for i in f]
        clf = train(base_items + rest, home=home, taxonomy=taxonomy, seed=seed,
                    include_seeds=False)
        domain_ids = clf.domain_ids
        predictions += clf.predict([i.document for i in fold_items[k]])
    return score(items, predictions, domain_ids,
                 note=f"{folds}-fold cross-validation, base of {len(base_items)} items")
