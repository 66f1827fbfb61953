"""Two models (or two training recipes) side by side, label by label.

:func:`compare_reports` lines up the figures of two :class:`EvaluationReport` made on
the same items: relevance, countries (micro), domains (micro and macro F1) and each
domain, with the change in F1. :func:`cross_validate_recipes` makes such reports when
there are too few labels that neither model saw: every recipe (a base of items plus
the labeled items it may use) is trained on the same k-1 folds and predicts the same
held-out fold, so the recipes are compared on the same unseen items.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from classifiers.evaluation import EvaluationReport, GroupScores, Scores, score
from classifiers.types import LabeledItem, Prediction

__all__ = ["Figures", "LabelComparison", "Recipe", "compare_reports", "comparison_table",
           "cross_validate_recipes", "key_figures"]


@dataclass(frozen=True, slots=True)
class Figures:
    """Precision, recall and F1 (``None`` where there is nothing to count)."""

    precision: float | None
    recall: float | None
    f1: float | None

    @classmethod
    def of(cls, s: Scores) -> Figures:
        return cls(s.precision, s.recall, s.f1)

    def to_dict(self) -> dict[str, float | None]:
        return {k: None if v is None else round(v, 4)
                for k, v in (("precision", self.precision), ("recall", self.recall),
                             ("f1", self.f1))}


@dataclass(frozen=True, slots=True)
class LabelComparison:
    """One label's figures under both models; ``support`` is its labeled positives."""

    label: str
    support: int
    current: Figures | None
    candidate: Figures

    @property
    def delta_f1(self) -> float | None:
        if self.current is None or self.current.f1 is None or self.candidate.f1 is None:
            return None
        return self.candidate.f1 - self.current.f1

    def to_dict(self) -> dict[str, Any]:
        delta = self.delta_f1
        return {"label": self.label, "support": self.support,
                "current": None if self.current is None else self.current.to_dict(),
                "candidate": self.candidate.to_dict(),
                "delta_f1": None if delta is None else round(delta, 4)}


def _rows(g: GroupScores) -> dict[str, tuple[int, Figures]]:
    macro = g.domains_macro_f1
    rows = {
        "relevance": (g.relevance.tp + g.relevance.fn, Figures.of(g.relevance)),
        "countries (micro)": (g.countries.tp + g.countries.fn, Figures.of(g.countries)),
        "domains (micro)": (g.domains.tp + g.domains.fn, Figures.of(g.domains)),
        "domains (macro F1)": (0, Figures(None, None, macro)),
    }
    for d, s in sorted(g.per_domain.items()):
        rows[d] = (s.tp + s.fn, Figures.of(s))
    return rows


def compare_reports(candidate: EvaluationReport, current: EvaluationReport | None,
                    *, group: str = "all") -> list[LabelComparison]:
    """The rows of the comparison, on the items of ``group`` (both reports' items)."""
    cand = _rows(candidate.groups[group]) if group in candidate.groups else {}
    cur = _rows(current.groups[group]) if current is not None and group in current.groups else {}
    names = list(cand) + [n for n in cur if n not in cand]
    head = [n for n in names if " (" in n or n == "relevance"]
    order = head + sorted(n for n in names if n not in head)
    empty = Figures(None, None, None)
    out = []
    for name in order:
        support, figures = cand[name] if name in cand else (cur[name][0], empty)
        out.append(LabelComparison(
            name, support, None if current is None else cur.get(name, (0, empty))[1], figures))
    return out


def key_figures(report: EvaluationReport | Mapping[str, Any], group: str = "all") -> (
    dict[str, float | None]
):
    """Relevance F1, countries micro-F1 and domains micro-F1 of a report (or its dict)."""
    data = report.to_dict() if isinstance(report, EvaluationReport) else report
    g = data.get("groups", {}).get(group)
    if not g:
        return {"relevance": None, "countries": None, "domains": None}
    return {"relevance": g["relevance"]["f1"], "countries": g["countries_micro"]["f1"],
            "domains": g["domains_micro"]["f1"]}


def comparison_table(rows: Sequence[LabelComparison], *, current: str = "-",
                     candidate: str = "-") -> str:
    """A plain-text table: per label, support, P/R/F1 of both and the change in F1."""
    def f(v: float | None) -> str:
        return "   -" if v is None else f"{v:4.2f}"

    def cells(x: Figures | None) -> str:
        return "   -    -    -" if x is None else f"{f(x.precision)} {f(x.recall)} {f(x.f1)}"

    roles = f"{'':<26} | {'current':>14} | {'candidate':>14} |"
    names = f"{'':<26} | {current[:14]:>14} | {candidate[:14]:>14} |"
    prf = f"{'P':>4} {'R':>4} {'F1':>4}"
    head = f"{'label':<22} {'n':>3} | {prf} | {prf} |   ΔF1"
    lines = [roles, names, head, "-" * len(head)]
    for r in rows:
        d = r.delta_f1
        delta = "    -" if d is None else f"{d:+5.2f}"
        support = "" if r.label == "domains (macro F1)" else str(r.support)
        lines.append(f"{r.label:<22} {support:>3} | {cells(r.current)} | "
                     f"{cells(r.candidate)} | {delta}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a model is trained: on ``base`` plus the labeled items ``allowed`` names
    (all of them when ``allowed`` is None)."""

    base: Sequence[LabeledItem]
    allowed: Collection[str] | None = None


def cross_validate_recipes(
    items: Sequence[LabeledItem],
    recipes: Mapping[str, Recipe],
    *,
    folds: int = 5,
    seed: int = 0,
    home: str = "AZ",
    taxonomy: Any = None,
) -> dict[str, EvaluationReport]:
    """k-fold cross-validation of each recipe on the same folds of ``items``.

    Folds are dealt as in :func:`classifiers.evaluation.cross_validate` (stratified by
    language and relevance); each recipe trains ``folds`` models, so this costs
    ``folds * len(recipes)`` trainings.
    """
    from classifiers.training import train

    groups: dict[str, list[LabeledItem]] = {}
    for item in items:  # an item labeled twice (two annotators) stays in one fold
        groups.setdefault(item.id, []).append(item)
    if folds < 2 or folds > len(groups):
        raise ValueError(f"folds must be between 2 and the number of labeled items ({len(groups)})")
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: (g[0].language or "?", g[0].relevant))
    fold_items = [[i for g in order[k::folds] for i in g] for k in range(folds)]
    reports = {}
    for name, recipe in recipes.items():
        predictions: list[Prediction] = []
        domain_ids: Sequence[str] = ()
        for k in range(folds):
            rest = [i for j, f in enumerate(fold_items) if j != k for i in f
                    if recipe.allowed is None or i.id in recipe.allowed]
            clf = train([*recipe.base, *rest], home=home, taxonomy=taxonomy, seed=seed,
                        include_seeds=False)
            domain_ids = clf.domain_ids
            predictions += clf.predict([i.document for i in fold_items[k]])
        reports[name] = score(items, predictions, domain_ids,
                              note=f"{folds}-fold cross-validation of the {name} recipe")
    return reports
