"""Learning curve: how the figures move as labels are added to the seeds.

    python -m tests.benchmarks.learning_curve [--data ../shared/data/dev.jsonl]
        [--folds 5] [--sizes 0,10,20,30,40] [--draws 3] [--jobs 2] [--json FILE]

Cross-validated on a labeled file (the guide's format): the items are dealt into
``--folds`` folds as ``evaluate --cv`` deals them (stratified by language and
relevance). For each fold and each size n, n labels are drawn at random from the
*other* folds, a model is trained on the seeds plus those n labels, and it predicts
the held-out fold; every item is predicted once per (n, draw), by a model that never
saw it. A size of 0 is the seeds alone (one model for all folds); a size as large as
the training folds uses all of them (one draw). The figures per n are the mean over
the draws of relevance F1, countries micro-F1 and domains micro-F1 (and macro F1), on
all items and on the English and the other items; the spread is the lowest and the
highest draw.

It prints a table and writes no file unless ``--json`` is given; nothing of the data
file is copied anywhere. It costs ``1 + folds * (draws * (sizes in between) + 1)``
trainings (51 with the defaults; 5-60 s each, depending on the machine's load).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dev.jsonl"
GROUPS = ("all", "en", "non-en")
FIGURES = ("relevance", "countries", "domains", "domains_macro")


def deal_folds(items: Sequence[Any], folds: int, seed: int) -> list[list[Any]]:
    """The folds of ``classifiers.evaluation.cross_validate``."""
    order = list(items)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: (i.language or "?", i.relevant))
    return [order[k::folds] for k in range(folds)]


def _train_and_predict(job: tuple[list[Any], list[Any], int]) -> list[Any]:
    from classifiers import train

    train_items, test_items, seed = job
    model = train(train_items, seed=seed)
    return model.predict([i.document for i in test_items])


def _figures(report: Any) -> dict[str, dict[str, float | None]]:
    out = {}
    for group in GROUPS:
        g = report.groups.get(group)
        if g is None:
            continue
        out[group] = {"relevance": g.relevance.f1, "countries": g.countries.f1,
                      "domains": g.domains.f1, "domains_macro": g.domains_macro_f1}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sizes", default="0,10,20,30,40")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (processes)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from classifiers import read_labeled, train
    from classifiers.evaluation import score

    if not args.data.is_file():
        print(f"no data file {args.data}", file=sys.stderr)
        return 2
    items = read_labeled(args.data)
    folds = deal_folds(items, args.folds, args.seed)
    pool_sizes = [len(items) - len(f) for f in folds]
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()

    # the jobs: (n, draw, fold) -> training items (beyond the seeds) and test items
    jobs: dict[tuple[int, int, int], tuple[list[Any], list[Any], int]] = {}
    for n in sizes:
        for k, test in enumerate(folds):
            pool = [i for j, f in enumerate(folds) if j != k for i in f]
            draws = 1 if n == 0 or n >= len(pool) else args.draws
            for d in range(draws):
                rng = random.Random(f"{args.seed}/{n}/{k}/{d}")
                chosen = pool if n >= len(pool) else rng.sample(pool, n)
                jobs[(n, d, k)] = (chosen, test, args.seed)

    predictions: dict[tuple[int, int], list[Any]] = {}
    seeds_model = train([], seed=args.seed) if 0 in sizes else None  # n = 0: one model
    todo = {key: job for key, job in jobs.items() if key[0] != 0}
    if seeds_model is not None:
        for (n, d, _k), (_, test, _s) in jobs.items():
            if n == 0:
                predictions.setdefault((n, d), []).extend(
                    seeds_model.predict([i.document for i in test]))
    print(f"{len(todo) + (seeds_model is not None)} trainings on {len(items)} items, "
          f"{args.folds} folds (training folds of {min(pool_sizes)}-{max(pool_sizes)} items)",
          file=sys.stderr, flush=True)
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as executor:
        results = zip(todo, executor.map(_train_and_predict, todo.values()), strict=True)
        for done, (key, preds) in enumerate(results, 1):
            predictions.setdefault(key[:2], []).extend(preds)
            print(f"  {done}/{len(todo)} trained ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)

    domain_ids = seeds_model.domain_ids if seeds_model is not None else ()
    rows: dict[int, dict[str, Any]] = {}
    for n in sizes:
        per_draw = [_figures(score(items, preds, domain_ids))
                    for (m, _d), preds in sorted(predictions.items()) if m == n]
        row: dict[str, Any] = {"draws": len(per_draw)}
        for group in GROUPS:
            for fig in FIGURES:
                values = [f[group][fig] for f in per_draw
                          if group in f and f[group][fig] is not None]
                if values:
                    row[f"{group}.{fig}"] = {"mean": statistics.fmean(values),
                                             "min": min(values), "max": max(values)}
        rows[n] = row

    def cell(row: dict[str, Any], key: str, spread: bool = False) -> str:
        v = row.get(key)
        if v is None:
            return "-"
        text = f"{v['mean']:.2f}"
        if spread and v["max"] - v["min"] >= 0.005:
            text += f" ({v['min']:.2f}-{v['max']:.2f})"
        return text

    print(f"\nlearning curve, {args.folds}-fold cross-validated on {args.data.name} "
          f"({len(items)} items), mean over draws (lowest-highest draw)")
    print("| labels | draws | relevance F1 | countries F1 | domains F1 (micro) | domains macro F1 "
          "| domains F1 English | domains F1 other |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, row in rows.items():
        print(f"| {n} | {row['draws']} | {cell(row, 'all.relevance', True)} | "
              f"{cell(row, 'all.countries', True)} | {cell(row, 'all.domains', True)} | "
              f"{cell(row, 'all.domains_macro')} | {cell(row, 'en.domains')} | "
              f"{cell(row, 'non-en.domains')} |")
    print("\n| labels | relevance F1 English / other | countries F1 English / other |")
    print("| --- | --- | --- |")
    for n, row in rows.items():
        print(f"| {n} | {cell(row, 'en.relevance')} / {cell(row, 'non-en.relevance')} | "
              f"{cell(row, 'en.countries')} / {cell(row, 'non-en.countries')} |")
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"data": args.data.name, "folds": args.folds,
                                         "items": len(items), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
