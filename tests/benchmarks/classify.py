"""Classification benchmark: throughput on ~3,000-character articles and load time.

    python -m tests.benchmarks.classify [--items 600] [--repeats 3]

Prints items per second on one core (one process, one thread), against a bare
baseline in the same process: the hashing vectorizer alone on the same texts. Each is
timed ``--repeats`` times, taking turns, the best run kept, in CPU time of the process
(``time.process_time``, which other processes on the machine disturb less) and in
wall time. Then the time for a new process to load a saved model and be ready to
predict (imports, arrays, sidecar checks, the compiled gazetteer saved beside the
model, the cue matchers) and to make its first prediction, best of ``--repeats``; and
the same once more without the compiled gazetteer (after a change of the data files:
the gazetteer is built, then written back). Exit status 1 when a target is missed:
300 items per CPU second, and a first prediction within 1 s of starting to load.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    ("en", "Azerbaijan's Health Minister met a delegation of China's National Health "
     "Commission in Baku. The sides signed a memorandum on cardiology: Chinese surgeons "
     "will train Azerbaijani doctors and a joint laboratory will study heart failure. "),
    ("az", "Səhiyyə naziri Türkiyə Sağlamlıq Nazirliyinin nümayəndə heyəti ilə görüşüb. "
     "Tərəflər tibb təhsili və telemedisina sahəsində əməkdaşlıq memorandumu imzalayıblar. "),
    ("ru", "Министр здравоохранения Азербайджана встретился с делегацией Минздрава России. "
     "Стороны обсудили сотрудничество в онкологии и обмен студентами-медиками. "),
    ("tr", "Sağlık Bakanı, Azerbaycan heyetini Ankara'da kabul etti. Taraflar sağlık "
     "turizmi ve ilaç tescili alanında işbirliği anlaşması imzaladı. "),
]

LOAD = """
import sys, time
t, c = time.perf_counter(), time.process_time()
from classifiers.persistence import load_model
from classifiers.types import Document
m = load_model(sys.argv[1])
loaded, loaded_cpu = time.perf_counter() - t, time.process_time() - c
m.predict([Document("w", "warm", "Azerbaijan and Turkey signed a health memorandum.")])
print(loaded, time.perf_counter() - t, loaded_cpu, time.process_time() - c)
"""


def _timed(runs: list[Callable[[], object]], repeats: int) -> list[tuple[float, float]]:
    """For each of ``runs``, the best (CPU seconds, wall seconds) of ``repeats`` tries,
    the runs taking turns (so that a busy minute on the machine hits all of them)."""
    cpu: list[list[float]] = [[] for _ in runs]
    wall: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for k, run in enumerate(runs):
            c, t = time.process_time(), time.perf_counter()
            run()
            cpu[k].append(time.process_time() - c)
            wall[k].append(time.perf_counter() - t)
    return [(min(c), min(w)) for c, w in zip(cpu, wall, strict=True)]


def _load(directory: Path) -> list[float]:
    out = subprocess.run([sys.executable, "-c", LOAD, str(directory)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [float(x) for x in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from classifiers import Document, load_seeds, save_model, train
    from classifiers.persistence import COMPILED_FILE

    started = time.perf_counter()
    model = train(load_seeds(ROOT / "seeds"))
    train_s = time.perf_counter() - started
    docs = []
    for i in range(args.items):
        lang, para = TEXTS[i % len(TEXTS)]
        text = (f"{i} " + para * (3000 // len(para) + 1))[:3000]
        docs.append(Document(str(i), f"Article {i}", text, lang))
    model.predict(docs[:4])  # warm

    from sklearn.feature_extraction.text import HashingVectorizer

    bare = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2**18)
    texts = [d.title + "\n\n" + d.text for d in docs]
    (cpu, wall), (bare_cpu, bare_wall) = _timed(
        [lambda: model.predict(docs), lambda: bare.transform(texts)], args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        saved = save_model(model, Path(tmp) / "m")
        runs = [_load(saved) for _ in range(args.repeats)]
        (saved / COMPILED_FILE).unlink()
        cold = _load(saved)
    best = [min(r[k] for r in runs) for k in range(4)]

    n = len(docs)
    rate_ok = n / cpu >= 300
    ready_ok = best[1] < 1.0
    print(f"training on the seeds:            {train_s:8.1f} s")
    print(f"classification, one core:         {n / cpu:8.0f} items/s CPU time, "
          f"{n / wall:.0f} wall (target 300 per CPU second: {'PASS' if rate_ok else 'FAIL'})")
    print(f"bare char-n-gram hashing, same:   {n / bare_cpu:8.0f} items/s CPU time, "
          f"{n / bare_wall:.0f} wall (ratio {bare_cpu / cpu:.2f} CPU, {bare_wall / wall:.2f} wall)")
    print(f"load, ready to predict:           {best[0]:8.3f} s wall, {best[2]:.3f} s CPU")
    print(f"load + first prediction:          {best[1]:8.3f} s wall, {best[3]:.3f} s CPU "
          f"(target < 1 s: {'PASS' if ready_ok else 'FAIL'})")
    print(f"the same without the compiled gazetteer (built, written back): "
          f"{cold[1]:.3f} s wall, {cold[3]:.3f} s CPU")
    if not (rate_ok and ready_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
