"""Training: a relevance model, a shared domain model and domain words; calibrated by CV.

The examples are those of :mod:`classifiers.examples` (labeled items, passages, honest
negatives, cue snippets). Three models are fitted:

- **Relevance**: an L2-regularised logistic regression over the hashed text features and
  the engineered figures (party evidence, health, cooperation and other-field cue
  densities and their products). Every example is used twice, as it is and with its
  hashed features blanked, so that the language-agnostic figures must decide on their
  own and the model carries over to languages whose words it never saw.
- **Domains**: one logistic regression *shared by all domains* over a domain's cue
  profile in a text (hits, distinct terms, share of all domain hits, ratio to the
  strongest domain, a hit in the title, sentences with a hit and a cooperation cue or a
  party, overlap with other domains; see ``PROFILE_FEATURES``) plus a
  per-domain offset (weak until there are ``OFFSET_ITEMS`` labeled documents). Pooling
  the domains lets five seed documents teach when a cue term is a concrete subject and
  when it is a passing word; the figures are the same in any language.
  It is trained on the labeled documents and their passages (each document's passages
  together weigh ``PASSAGE_SHARE`` documents), not on snippets.
- **Domain words**: one logistic regression per domain over the hashed text (fitted
  jointly: one Newton-CG run over a weight matrix), on every example with domain
  labels, the cue snippets of all languages included. It does not decide anything: its
  weights name the words behind a domain in the evidence. (Its score added nothing to
  the profile model in cross-validation, so it is not an input.)

Probabilities are Platt-scaled on out-of-fold scores (folds grouped by source document,
so a document's passages and variants never straddle a fold). The relevance threshold
maximises the out-of-fold F1 within 0.3..0.7. The domain model is calibrated on the
whole documents only (the unit it is used on), and its threshold, shared by all domains
(five documents cannot set fifteen), maximises their out-of-fold F1 within 0.2..0.8.
Hyper-parameters and the profile features were chosen by these leave-one-document-out
figures on the training data, never on evaluation data.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.dataset import load_seeds
from classifiers.examples import Example, build_examples
from classifiers.features import PROFILE_FEATURES, Analysis, FeatureSettings, Featurizer
from classifiers.prediction import Classifier, ModelWeights
from classifiers.types import LabeledItem

__all__ = ["train", "training_digest"]

Matrix = npt.NDArray[np.float64]
C_RELEVANCE = 4.0
C_TEXT = 4.0
C_PROFILE = 1.0
OFFSET_ITEMS = 50  # per-domain offsets count fully from this many labeled documents on
FOLDS = 5
MIN_DF = 2
MAX_NEWTON = 12
# The guide's definition as signs: a party, health and cooperation count for relevance,
# other fields and news from one country abroad against; the rest is free.
RELEVANCE_SIGNS = {
    "party_max": 1, "party_count": 1, "party_any": 1, "single_party_abroad": -1,
    "home_named": 1, "nonparty_count": -1, "health": 1, "health_density": 1,
    "health_title": 1, "cooperation": 1, "cooperation_title": 1, "other": -1,
    "other_density": -1, "other_title": -1, "health_share": 1, "party_x_health": 1,
    "party_x_cooperation": 1, "health_x_cooperation": 1, "party_x_health_x_cooperation": 1,
}
_STAGE2_WEIGHT = {"item": 1.0, "passage": 1.0}
PASSAGE_SHARE = 2.0  # a document's passages together weigh twice the whole document


def training_digest(items: Sequence[LabeledItem], **settings: Any) -> str:
    """A hash of the labeled items and the settings that shaped the examples."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for it in sorted(items, key=lambda i: i.id):
        h.update(json.dumps([it.id, it.title, it.text, it.relevant, list(it.countries),
                             list(it.domains)], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


# -- fitting -------------------------------------------------------------------------


def _fit(x: Any, y: Matrix, s: Matrix, c: float,
         signs: Sequence[int] | None = None) -> tuple[Matrix, Matrix]:
    """Independent L2 logistic regressions sharing ``x`` (Newton-CG); (weights, biases).

    ``signs`` (one label only) bounds the last columns' weights: +1 at least zero, -1 at
    most zero, 0 free (then L-BFGS-B does the fitting).
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    n_cols, n_labels = x.shape[1], y.shape[1]
    xt = x.T.tocsr()
    split = n_cols * n_labels
    curvature: dict[str, Matrix] = {}

    def unpack(theta: Matrix) -> tuple[Matrix, Matrix]:
        return theta[:split].reshape(n_cols, n_labels), theta[split:]

    def objective(theta: Matrix) -> tuple[float, Matrix]:
        w, b = unpack(theta)
        z = x @ w + b
        p = expit(z)
        curvature["d"] = s * p * (1.0 - p)
        loss = float(np.sum(s * (np.logaddexp(0.0, z) - y * z)) + 0.5 / c * np.sum(w * w))
        g = s * (p - y)
        return loss, np.concatenate([(xt @ g + w / c).ravel(), g.sum(axis=0)])

    def hessp(theta: Matrix, v: Matrix) -> Matrix:
        vw, vb = unpack(v)
        q = curvature["d"] * (x @ vw + vb)
        return np.concatenate([(xt @ q + vw / c).ravel(), q.sum(axis=0) + 1e-8 * vb])

    theta0 = np.zeros(split + n_labels)
    if signs is not None:
        free = [(None, None)] * (n_cols - len(signs))
        box = {1: (0.0, None), -1: (None, 0.0), 0: (None, None)}
        bounds = free + [box[sign] for sign in signs] + [(None, None)]
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 300, "ftol": 1e-6})
        return unpack(res.x)
    res = minimize(objective, theta0, jac=True, hessp=hessp, method="Newton-CG",
                   options={"maxiter": MAX_NEWTON if split > 1000 else 100, "xtol": 1e-9})
    w, b = unpack(res.x)
    return w, b


def _platt(z: Matrix, y: Matrix, s: Matrix) -> tuple[float, float]:
    from scipy.optimize import minimize
    from scipy.special import expit

    def objective(p: Matrix) -> tuple[float, Matrix]:
        t = p[0] * z + p[1]
        g = s * (expit(t) - y)
        reg = 1e-3 * (p[0] - 1.0) ** 2  # keeps a separable fold from running off
        return (float(np.sum(s * (np.logaddexp(0.0, t) - y * t)) + reg),
                np.array([np.sum(g * z) + 2e-3 * (p[0] - 1.0), np.sum(g)]))

    res = minimize(objective, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def _best_threshold(p: Matrix, y: Matrix, s: Matrix, lo: float, hi: float) -> tuple[float, float]:
    best, best_f1 = 0.5, -1.0
    for t in np.round(np.arange(lo, hi + 1e-9, 0.05), 2):
        pred = p >= t
        tp = float(np.sum(s * (pred & (y > 0))))
        fp = float(np.sum(s * (pred & (y == 0))))
        fn = float(np.sum(s * (~pred & (y > 0))))
        f1 = 2 * tp / max(2 * tp + fp + fn, 1e-9)
        if f1 > best_f1 + 1e-9 or (abs(f1 - best_f1) <= 1e-9 and abs(t - 0.5) < abs(best - 0.5)):
            best, best_f1 = float(t), f1
    return best, best_f1


def _balanced(y: Matrix, mask: Matrix, weight: Matrix) -> Matrix:
    s = mask * weight[:, None]
    for j in range(y.shape[1]):
        pos, neg = s[:, j] * (y[:, j] > 0), s[:, j] * (y[:, j] == 0)
        total = pos.sum() + neg.sum()
        if pos.sum() > 0 and neg.sum() > 0:
            s[:, j] = 0.5 * total * (pos / pos.sum() + neg / neg.sum())
    return s


def _oof(x: Any, y: Matrix, s: Matrix, folds: npt.NDArray[np.int64], c: float,
         signs: Sequence[int] | None = None) -> Matrix:
    """Out-of-fold logits: each fold scored by a model fitted on the others."""
    out = np.zeros(y.shape)
    for k in np.unique(folds):
        test = folds == k
        if test.all():
            continue
        w, b = _fit(x[~test], y[~test], s[~test], c, signs)
        out[test] = x[test] @ w + b
    return out


def _calibrate(z: Matrix, y: Matrix, lo: float, hi: float) -> tuple[float, float, float, float]:
    """Platt parameters, the threshold in ``lo..hi`` that maximises F1, and that F1."""
    from scipy.special import expit

    if y.min() == y.max():
        return 1.0, 0.0, 0.5, 0.0
    a, b = _platt(z, y, np.ones_like(z))
    t, f1 = _best_threshold(expit(a * z + b), y, np.ones_like(z), lo, hi)
    return a, b, t, f1


def _hashed_matrix(analyses: Sequence[Analysis]) -> tuple[Any, npt.NDArray[np.int64]]:
    """Rows of hashed features over the buckets at least MIN_DF examples use."""
    import scipy.sparse as sp

    cols = np.concatenate([a.hashed_idx for a in analyses])
    vals = np.concatenate([a.hashed_val for a in analyses])
    rows = np.concatenate([np.full(a.hashed_idx.size, i) for i, a in enumerate(analyses)])
    buckets, df = np.unique(cols, return_counts=True)
    used = buckets[df >= MIN_DF]
    keep = np.isin(cols, used)
    x = sp.csr_matrix((vals[keep], (rows[keep], np.searchsorted(used, cols[keep]))),
                      shape=(len(analyses), used.size))
    return x, used


def _standardise(m: Matrix) -> tuple[Matrix, Matrix, Matrix]:
    mean, scale = m.mean(axis=0), np.maximum(m.std(axis=0), 1e-3)
    return (m - mean) / scale, mean, scale


def train(
    items: Sequence[LabeledItem],
    *,
    home: str = "AZ",
    taxonomy: Any = None,
    seed: int = 0,
    include_seeds: bool = True,
    seeds_dir: Path | None = None,
    settings: FeatureSettings | None = None,
) -> Classifier:
    """Train on the seeds (unless ``include_seeds=False``) plus ``items``; see the docstring."""
    import scipy.sparse as sp

    if taxonomy is None:
        from classifiers.taxonomy import load_taxonomy

        taxonomy = load_taxonomy()
    settings = settings or FeatureSettings()
    labeled = list(items)
    if include_seeds:
        known = {i.id for i in labeled}
        labeled = [s for s in load_seeds(seeds_dir) if s.id not in known] + labeled
    if not labeled:
        raise ValueError("nothing to train on: no items and no seeds")
    featurizer = Featurizer(taxonomy, settings, home=home)
    domain_ids = featurizer.domain_ids
    n_dom = len(domain_ids)
    cache: dict[tuple[str, str], Analysis] = {}
    examples: list[Example] = build_examples(labeled, featurizer, seed=seed, cache=cache)
    analyses = [cache.get((ex.title, ex.text)) or featurizer.analyse(ex.title, ex.text)
                for ex in examples]
    # folds: the labeled documents dealt out first (each fold gets one where it can)
    rng = random.Random(seed)
    documents = sorted({ex.group for ex in examples if ex.source != "snippet"})
    snippets = sorted({ex.group for ex in examples if ex.source == "snippet"} - set(documents))
    rng.shuffle(documents)
    rng.shuffle(snippets)
    fold_of = {g: k % FOLDS for k, g in enumerate(documents + snippets)}
    fold = np.array([fold_of[ex.group] for ex in examples])
    weight = np.array([ex.weight for ex in examples])
    hashed, used = _hashed_matrix(analyses)
    # centred, not scaled: a rare figure (a title) must not get a large standardised value
    e_all = np.vstack([a.engineered for a in analyses]).astype(np.float64)
    e_mean, e_scale = e_all.mean(axis=0), np.ones(e_all.shape[1])
    e_std = (e_all - e_mean) * settings.engineered_scale
    metrics: dict[str, Any] = {}

    # relevance: as is, and with the hashed text blanked
    r = np.array([i for i, ex in enumerate(examples) if ex.relevant is not None])
    x_r = sp.vstack([sp.hstack([hashed[r], sp.csr_matrix(e_std[r])]),
                     sp.hstack([sp.csr_matrix((r.size, used.size)), sp.csr_matrix(e_std[r])])])
    x_r = x_r.tocsr()
    y_r = np.array([[float(bool(examples[i].relevant))] for i in r] * 2)
    s_r = _balanced(y_r, np.ones_like(y_r), np.concatenate([weight[r], weight[r]]))
    f_r = np.concatenate([fold[r], fold[r]])
    signs = [RELEVANCE_SIGNS.get(name, 0) for name in featurizer.names]
    z_r = _oof(x_r, y_r, s_r, f_r, C_RELEVANCE, signs)[:, 0]
    w_r, b_r = _fit(x_r, y_r, s_r, C_RELEVANCE, signs)
    a_r, b_pr, t_r, f1_r = _calibrate(z_r, y_r[:, 0], 0.3, 0.7)
    metrics["relevance_cv_f1"] = round(f1_r, 4)

    # domains, text model: hashed text only, every example with domain labels (its
    # weights name the words behind a domain; the decision is the profile model's)
    d = np.array([i for i, ex in enumerate(examples) if ex.domains is not None])
    y_1 = np.array([[float(t in (examples[i].domains or ())) for t in domain_ids] for i in d])
    w_1, b_1 = _fit(hashed[d], y_1, _balanced(y_1, np.ones_like(y_1), weight[d]), C_TEXT)

    # domains, profile model: shared over (text, domain) pairs of the labeled texts
    rows = [i for i in d if examples[i].source in _STAGE2_WEIGHT]
    p_std, p_mean, p_scale = _standardise(np.concatenate([analyses[i].profile for i in rows]))
    offset_scale = min(1.0, len(labeled) / OFFSET_ITEMS)  # five seeds set them only weakly
    offsets = np.tile(np.eye(n_dom), (len(rows), 1)) * offset_scale
    x_2 = sp.csr_matrix(np.hstack([p_std, offsets]))
    y_2 = np.array([[float(t in (examples[i].domains or ()))] for i in rows for t in domain_ids])
    # each labeled document weighs the same: its passages share one item's weight
    n_passages: dict[str, int] = {}
    for i in rows:
        if examples[i].source == "passage":
            n_passages[examples[i].group] = n_passages.get(examples[i].group, 0) + 1
    w2_rows = np.repeat([
        PASSAGE_SHARE / n_passages[examples[i].group] if examples[i].source == "passage"
        else 1.0 for i in rows], n_dom)
    s_2 = _balanced(y_2, np.ones_like(y_2), w2_rows)
    f_2 = np.repeat(fold[rows], n_dom)
    z_2 = _oof(x_2, y_2, s_2, f_2, C_PROFILE)[:, 0]
    w_2, b_2 = _fit(x_2, y_2, s_2, C_PROFILE)
    w_2[p_std.shape[1]:] *= offset_scale
    # calibrated and thresholded on whole documents: the unit the model is used on
    whole = np.repeat([examples[i].source == "item" for i in rows], n_dom)
    a_2, b_p2, t_2, f1_2 = _calibrate(z_2[whole], y_2[whole, 0], 0.2, 0.8)
    metrics["domains_cv_micro_f1"] = round(f1_2, 4)

    full_hashed = np.zeros((settings.n_features, 1 + n_dom), dtype=np.float32)
    full_hashed[used, 0] = w_r[: used.size, 0]
    full_hashed[used, 1:] = w_1
    weights = ModelWeights(
        hashed=full_hashed,
        engineered=w_r[used.size :, 0].astype(np.float32),
        bias=np.concatenate([b_r, b_1]).astype(np.float32),
        eng_mean=e_mean.astype(np.float32),
        eng_scale=e_scale.astype(np.float32),
        profile=w_2[:, 0].astype(np.float32),
        profile_bias=b_2.astype(np.float32),
        prof_mean=p_mean.astype(np.float32),
        prof_scale=p_scale.astype(np.float32),
        platt=np.array([[a_r, a_2], [b_pr, b_p2]], dtype=np.float32),
        thresholds=np.array([t_r] + [t_2] * n_dom, dtype=np.float32),
    )
    counts: dict[str, int] = {}
    for ex in examples:
        counts[ex.source] = counts.get(ex.source, 0) + 1
    metadata = {
        "taxonomy_version": str(taxonomy.version),
        "training_digest": training_digest(labeled, seed=seed, home=home, folds=FOLDS,
                                           c=[C_RELEVANCE, C_TEXT, C_PROFILE]),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "home": home,
        "seed": seed,
        "labeled_items": len(labeled),
        "examples": counts,
        "metrics": {"cross_validated_on_training_examples": metrics},
        "domain_ids": list(domain_ids),
        "engineered_features": list(featurizer.names),
        "profile_features": list(PROFILE_FEATURES),
    }
    return Classifier(weights, settings, domain_ids, taxonomy, home, metadata, featurizer)
