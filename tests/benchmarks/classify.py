"""Classification benchmark: throughput on ~3,000-character articles and load time.

    python -m tests.benchmarks.classify [--items 600]

Prints items per second on one core (one process, one thread), against a bare
baseline in the same process: the hashing vectorizer alone on the same texts; and
the time to load a saved model, cold (arrays and sidecar) and ready to predict
(plus the gazetteer and taxonomy matchers, built on first use).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
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
t = time.perf_counter()
from classifiers.persistence import load_model
from classifiers.types import Document
m = load_model(sys.argv[1])
loaded = time.perf_counter() - t
m.predict([Document("w", "warm", "Azerbaijan and Turkey signed a health memorandum.")])
print(f"{loaded:.3f} {time.perf_counter() - t:.3f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=600)
    args = parser.parse_args()

    from classifiers import Document, load_seeds, save_model, train

    started = time.perf_counter()
    model = train(load_seeds(ROOT / "seeds"))
    train_s = time.perf_counter() - started
    docs = []
    for i in range(args.items):
        lang, para = TEXTS[i % len(TEXTS)]
        text = (f"{i} " + para * (3000 // len(para) + 1))[:3000]
        docs.append(Document(str(i), f"Article {i}", text, lang))
    model.predict(docs[:4])  # warm: gazetteer and matchers are built on first use

    started = time.perf_counter()
    model.predict(docs)
    rate = len(docs) / (time.perf_counter() - started)

    from sklearn.feature_extraction.text import HashingVectorizer

    bare = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2**18)
    started = time.perf_counter()
    bare.transform([d.title + "\n\n" + d.text for d in docs])
    bare_rate = len(docs) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, Path(tmp) / "m")
        out = subprocess.run([sys.executable, "-c", LOAD, str(Path(tmp) / "m")], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    load_s, ready_s = float(out[0]), float(out[1])

    print(f"training on the seeds:            {train_s:8.1f} s")
    print(f"classification, one core:         {rate:8.0f} items/s (target 300)")
    ratio = rate / bare_rate
    print(f"bare char-n-gram hashing, same:   {bare_rate:8.0f} items/s (ratio {ratio:.2f})")
    print(f"model load (imports + arrays):    {load_s:8.3f} s (target < 1 s)")
    print(f"load + first prediction (matchers built): {ready_s:.3f} s")


if __name__ == "__main__":
    main()
