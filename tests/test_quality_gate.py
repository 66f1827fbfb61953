"""Quality gate: the model trained on the seeds alone, measured on the held-out set.

``tests/data/heldout.jsonl`` (48 items, 12 each in en/az/ru/tr; see its README) is never
trained on or tuned on. The floors below sit slightly under what the classifier measured
when they were set (figures in the comments); a change that drops a figure under its
floor fails here.

Lowering a floor needs saying why, in the commit that lowers it (a deliberate trade-off,
a label corrected in the held-out set, a taxonomy change measured on dev.jsonl), as in
trafilatura's ``tests/eval_gate.py``. Raising one after an improvement is welcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import Classifier, EvaluationReport, evaluate, read_labeled

HELDOUT = Path(__file__).resolve().parent / "data" / "heldout.jsonl"

# group -> (relevance F1, countries micro-F1, domains micro-F1)
# measured 2026-11-22, seeds only, seed 0:
#   all     1.00 / 0.96 / 0.87
#   en      1.00 / 0.95 / 0.87
#   non-en  1.00 / 0.96 / 0.87
FLOORS = {
    "all": (0.97, 0.93, 0.84),
    "en": (0.93, 0.90, 0.80),
    "non-en": (0.97, 0.93, 0.84),
}


@pytest.fixture(scope="module")
def report(seeds_model: Classifier) -> EvaluationReport:
    assert HELDOUT.is_file(), f"{HELDOUT} is missing: the quality gate cannot run without it"
    items = read_labeled(HELDOUT)
    assert len(items) >= 40
    result = evaluate(seeds_model, items)  # train([]), trained once per session
    print("\n" + result.table())
    return result


@pytest.mark.parametrize("group", sorted(FLOORS))
def test_figures_stay_above_their_floors(report: EvaluationReport, group: str) -> None:
    g = report.groups[group]
    relevance, countries, domains = FLOORS[group]
    figures = {"relevance": g.relevance.f1, "countries": g.countries.f1,
               "domains": g.domains.f1}
    floors = {"relevance": relevance, "countries": countries, "domains": domains}
    below = {k: (figures[k], floors[k]) for k in floors
             if figures[k] is None or figures[k] < floors[k]}  # type: ignore[operator]
    assert not below, f"{group}: (measured, floor) under the floor: {below}"


def test_every_language_of_the_heldout_set_is_measured(report: EvaluationReport) -> None:
    assert {"en", "az", "ru", "tr"} <= set(report.groups)
    for lang in ("az", "ru", "tr"):
        assert (report.groups[lang].relevance.f1 or 0.0) >= 0.85, lang
