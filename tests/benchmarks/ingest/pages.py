"""The extraction benchmark's pages and its upstream metric."""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.cli_helpers import ROOT

BENCH = ROOT.parent / "shared" / "peers" / "article-extraction-benchmark"


# --------------------------------------------------------------------------- material


@dataclass(frozen=True)
class Page:
    """One page of the extraction benchmark: id, UTF-8 bytes, text, ground truth."""

    id: str
    raw: bytes
    html: str
    truth: str


def load_pages(root: Path) -> list[Page]:
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        raw = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        pages.append(Page(key, raw, raw.decode("utf-8"), truth[key].get("articleBody", "")))
    return pages


# --------------------------------------------------------------------------- metric
# The upstream evaluate.py of github.com/scrapinghub/article-extraction-benchmark.

_TOKEN_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def shingle_match(true: str, pred: str) -> tuple[float, float, float]:
    """(TP, FP, FN) of the shingle multisets, normalised to sum 1."""
    t, p = _shingles(true), _shingles(pred)
    tp = float(sum((t & p).values()))
    fp = float(sum((p - t).values()))
    fn = float(sum((t - p).values()))
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s > 0 else (tp, fp, fn)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    accuracy: float


def score(pages: Sequence[Page], texts: dict[str, str]) -> Score:
    tpfpfn = [shingle_match(p.truth, texts.get(p.id, "")) for p in pages]
    precision = statistics.mean(_precision(*x) for x in tpfpfn if x[0] + x[1] > 0)
    recall = statistics.mean(_recall(*x) for x in tpfpfn if x[0] + x[2] > 0)
    accuracy = statistics.mean(
        float(_TOKEN_RE.findall(p.truth) == _TOKEN_RE.findall(texts.get(p.id, "")))
        for p in pages)
    return Score(precision, recall, 2 * precision * recall / (precision + recall), accuracy)



def published_check(root: Path, pages: Sequence[Page]) -> Score | None:
    """This metric on the upstream trafilatura 2.0.0 predictions (a published figure)."""
    path = root / "output" / "trafilatura.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    data = data.get("output", data) if "version" in data else data
    return score(pages, {k: v.get("articleBody", "") or "" for k, v in data.items()})


def first_difference(a: str, b: str) -> str:
    i = next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
             min(len(a), len(b)))
    return (f"texts differ at character {i} (pipeline {len(a)} chars, bare {len(b)}): "
            f"{a[max(0, i - 30):i + 30]!r} vs {b[max(0, i - 30):i + 30]!r}")

