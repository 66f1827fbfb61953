"""The labeling queue (active learning) and agreement between annotators. Pure: no I/O.

Which item to label next is decided by the model: items whose **relevance** it is least
sure of first (a calibrated probability near the threshold), then items whose
**labels** it is unsure of (a domain score near its threshold), mixed with **diverse**
items: from a source or in a language nobody has labeled yet, or in a near-duplicate
cluster with no label. Every fourth place goes to the most diverse item left. Two
items of one near-duplicate cluster never follow each other (and only one of a
cluster is offered while it is unlabeled). Each entry says why it was chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from storage.labeling import LabelCandidate

__all__ = [
    "Agreement",
    "LabeledContext",
    "QueueEntry",
    "agreement",
    "order_queue",
]

#: One place in this many goes to the most diverse candidate.
DIVERSITY_EVERY = 4


@dataclass(frozen=True, slots=True)
class LabeledContext:
    """What the labels so far cover."""

    sources: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    clusters: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class QueueEntry:
    candidate: LabelCandidate
    cluster: int
    uncertainty: float
    diversity: float
    reasons: tuple[str, ...] = field(default=())


def _closeness(p: float, threshold: float) -> float:
    """1 at the threshold, 0 at the far end."""
    span = max(threshold, 1 - threshold)
    return max(0.0, 1 - abs(p - threshold) / span)


def _entry(c: LabelCandidate, cluster: int, ctx: LabeledContext, relevance_threshold: float,
           domain_thresholds: Mapping[str, float]) -> QueueEntry:
    rel = _closeness(c.relevance, relevance_threshold)
    lab = max((_closeness(p, domain_thresholds.get(d, 0.5)) for d, p in c.scores.items()),
              default=0.0)
    uncertainty = rel + 0.5 * lab
    reasons = []
    if rel >= 0.6:
        reasons.append(f"uncertain relevance ({c.relevance:.2f})")
    if lab >= 0.8:
        domain = max(c.scores, key=lambda d: _closeness(c.scores[d],
                                                        domain_thresholds.get(d, 0.5)))
        reasons.append(f"uncertain domain {domain} ({c.scores[domain]:.2f})")
    diversity = 0.0
    new_sources = [s for s in c.sources if s not in ctx.sources]
    if c.sources and len(new_sources) == len(c.sources):
        diversity += 1.0
        reasons.append(f"new source: {', '.join(new_sources)}")
    if c.language and c.language not in ctx.languages:
        diversity += 1.0
        reasons.append(f"new language: {c.language}")
    if cluster not in ctx.clusters:
        diversity += 0.25
    if not reasons:
        reasons.append(f"relevance {c.relevance:.2f}")
    return QueueEntry(c, cluster, uncertainty, diversity, tuple(reasons))


def order_queue(candidates: Sequence[LabelCandidate], *, clusters: Mapping[int, int],
                context: LabeledContext, relevance_threshold: float = 0.5,
                domain_thresholds: Mapping[str, float] | None = None,
                limit: int = 50) -> list[QueueEntry]:
    """The next ``limit`` items to label, best first."""
    thresholds = domain_thresholds or {}
    entries = [_entry(c, clusters.get(c.item_id, c.item_id), context, relevance_threshold,
                      thresholds) for c in candidates]
    # one item per unlabeled cluster: its most uncertain member
    best: dict[int, QueueEntry] = {}
    for e in entries:
        held = best.get(e.cluster)
        if held is None or e.uncertainty > held.uncertainty:
            best[e.cluster] = e
    pool = sorted(best.values(), key=lambda e: (-e.uncertainty, -e.candidate.item_id))
    diverse = sorted((e for e in pool if e.diversity >= 1.0),
                     key=lambda e: (-e.diversity, -e.uncertainty, -e.candidate.item_id))
    chosen: list[QueueEntry] = []
    used: set[int] = set()
    covered_sources: set[str] = set(context.sources)
    covered_languages: set[str] = set(context.languages)
    while len(chosen) < limit and len(used) < len(pool):
        pick = None
        if (len(chosen) + 1) % DIVERSITY_EVERY == 0:
            pick = next((e for e in diverse if e.candidate.item_id not in used and (
                set(e.candidate.sources) - covered_sources
                or (e.candidate.language and e.candidate.language not in covered_languages))),
                None)
        if pick is None:
            pick = next(e for e in pool if e.candidate.item_id not in used)
        chosen.append(pick)
        used.add(pick.candidate.item_id)
        covered_sources.update(pick.candidate.sources)
        if pick.candidate.language:
            covered_languages.add(pick.candidate.language)
    return chosen


# --------------------------------------------------------------------------- agreement


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement between two annotators over the items both labeled."""

    first: str
    second: str
    items: int
    relevance: float  # share of items with the same verdict
    kappa: float | None  # Cohen's kappa on relevance (None when undefined)
    countries: float  # mean Jaccard of the country sets (1.0 when both are empty)
    domains: float  # mean Jaccard of the domain sets


def _jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    x, y = set(a), set(b)
    return 1.0 if not x and not y else len(x & y) / len(x | y)


def agreement(labels: Iterable[Sequence[Mapping[str, object]]]) -> list[Agreement]:
    """Pairwise agreement; ``labels`` holds, per item, each annotator's label
    (``annotator``, ``relevant``, ``countries``, ``domains``)."""
    pairs: dict[tuple[str, str], list[tuple[Mapping[str, object], Mapping[str, object]]]] = {}
    for item_labels in labels:
        by_person = {str(x["annotator"]): x for x in item_labels}
        for a, b in combinations(sorted(by_person), 2):
            pairs.setdefault((a, b), []).append((by_person[a], by_person[b]))
    out = []
    for (a, b), both in sorted(pairs.items()):
        n = len(both)
        ra = [bool(x["relevant"]) for x, _ in both]
        rb = [bool(y["relevant"]) for _, y in both]
        observed = sum(x == y for x, y in zip(ra, rb, strict=True)) / n
        pa, pb = sum(ra) / n, sum(rb) / n
        expected = pa * pb + (1 - pa) * (1 - pb)
        kappa = None if expected >= 1 else (observed - expected) / (1 - expected)
        countries = sum(_jaccard(_strs(x["countries"]), _strs(y["countries"]))
                        for x, y in both) / n
        domains = sum(_jaccard(_strs(x["domains"]), _strs(y["domains"])) for x, y in both) / n
        out.append(Agreement(a, b, n, observed, kappa, countries, domains))
    return out


def _strs(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []
