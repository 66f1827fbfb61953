"""A trained classifier: predict relevance, partner countries and domains, and explain.

Prediction is numpy only (no scikit-learn at run time, so a saved model loads in
milliseconds): the featurizer gives a document's hashed n-grams and engineered
figures; a linear score per model is Platt-scaled into a probability.

- ``relevant`` when the calibrated relevance probability reaches ``relevance_threshold``
  (0.5 unless trained otherwise);
- ``countries``: the gazetteer's party countries, home left out; none when not relevant;
- ``domains``: each domain whose calibrated probability reaches its own threshold
  (chosen by cross-validation on the training data); none when not relevant. The scores
  are given for every domain either way;
- ``evidence``: for each tag, the words behind it: the taxonomy cue terms found, the
  text's words with the highest weights for that tag, and the country mentions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.features import (
    Analysis,
    FeatureSettings,
    Featurizer,
    normalise,
    word_feature_buckets,
    word_spans,
)
from classifiers.types import Document, Prediction

__all__ = ["Classifier", "Evidence", "Explanation", "ModelWeights"]

FloatArray = npt.NDArray[np.float32]
_TOP_WORDS = 5
_MIN_WORD_LEN = 4
_WORD_SHARE = 0.3  # a word shown has at least this share of the top word's weight


@dataclass(frozen=True, slots=True)
class ModelWeights:
    """The arrays of a trained classifier (all that is saved besides the JSON sidecar).

    Hashed weights are stored bucket-major (``n_features x (1 + domains)``) so that a
    document's buckets gather contiguous rows: column 0 is relevance, then the stage-1
    text model of each domain. The stage-2 profile model is shared by the domains:
    weights over the standardised profile features, then one offset per domain.
    """

    hashed: FloatArray  # (n_features, 1 + n_domains)
    engineered: FloatArray  # (n_engineered,), relevance, on standardised features
    bias: FloatArray  # (1 + n_domains,)
    eng_mean: FloatArray  # (n_engineered,)
    eng_scale: FloatArray  # (n_engineered,)
    profile: FloatArray  # (n_profile + n_domains,)
    profile_bias: FloatArray  # (1,)
    prof_mean: FloatArray  # (n_profile,)
    prof_scale: FloatArray  # (n_profile,)
    platt: FloatArray  # (2, 2): a, b for relevance (column 0) and domains (column 1)
    thresholds: FloatArray  # (1 + n_domains,)

    def arrays(self) -> dict[str, FloatArray]:
        return {name: getattr(self, name) for name in self.__slots__}

    def digest(self) -> str:
        h = hashlib.sha256()
        for name, arr in sorted(self.arrays().items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
        return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of evidence for a tag, with its place in ``title + "\\n\\n" + text``."""

    kind: str  # cue | term | country
    text: str
    start: int
    end: int
    weight: float = 0.0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a document got its tags: the prediction, evidence per tag, the figures used."""

    prediction: Prediction
    evidence: Mapping[str, tuple[Evidence, ...]]
    features: Mapping[str, float]
    text: str  # the text the offsets refer to (title, blank line, text before references)

    def __str__(self) -> str:
        p = self.prediction
        lines = [
            f"{p.id}: {'relevant' if p.relevant else 'not relevant'} ({p.relevance:.2f}), "
            f"model {p.model_version}",
            f"countries: {', '.join(p.countries) or '-'}",
            "domains: " + (", ".join(f"{d} ({p.scores[d]:.2f})" for d in p.domains) or "-"),
        ]
        for tag, items in self.evidence.items():
            shown = "; ".join(
                f"{e.kind} '{e.text}'" + (f" @{e.start}" if e.start >= 0 else "")
                + (f" ({e.note})" if e.note and e.kind == "country" else "")
                for e in items[:12])
            lines.append(f"  {tag}: {shown}")
        figures = ", ".join(f"{k}={v:g}" for k, v in self.features.items() if v)
        lines.append(f"figures: {figures}")
        return "\n".join(lines)


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
    return out


@dataclass
class Classifier:
    """Relevance, partner countries and health domains of documents."""

    weights: ModelWeights
    settings: FeatureSettings
    domain_ids: tuple[str, ...]
    taxonomy: Any
    home: str = "AZ"
    metadata: dict[str, Any] = field(default_factory=dict)
    _featurizer: Featurizer | None = field(default=None, repr=False)

    @property
    def featurizer(self) -> Featurizer:
        if self._featurizer is None:
            self._featurizer = Featurizer(self.taxonomy, self.settings, home=self.home)
        return self._featurizer

    @property
    def labels(self) -> tuple[str, ...]:
        return ("relevant", *self.domain_ids)

    @cached_property
    def version(self) -> str:
        """Short hash of the weights, the taxonomy version and the training data digest."""
        h = hashlib.sha256()
        h.update(self.weights.digest().encode())
        h.update(str(self.metadata.get("taxonomy_version", "")).encode())
        h.update(str(self.metadata.get("training_digest", "")).encode())
        h.update(repr(self.settings.to_dict()).encode())
        return h.hexdigest()[:12]

    # -- scoring --------------------------------------------------------------------

    def _probabilities(self, analysis: Analysis) -> npt.NDArray[np.float64]:
        """Calibrated probabilities: relevance, then each domain."""
        w = self.weights
        z = w.hashed[analysis.hashed_idx].T.astype(np.float64) @ analysis.hashed_val + w.bias
        eng = (analysis.engineered - w.eng_mean) / w.eng_scale * self.settings.engineered_scale
        z_rel = z[0] + float(eng.astype(np.float64) @ w.engineered)
        prof = (analysis.profile - w.prof_mean) / w.prof_scale
        n_prof = prof.shape[1]
        z_dom = prof @ w.profile[:n_prof] + w.profile[n_prof:] + w.profile_bias[0]
        p_rel = _sigmoid(np.array([w.platt[0, 0] * z_rel + w.platt[1, 0]]))
        p_dom = _sigmoid(w.platt[0, 1] * z_dom + w.platt[1, 1])
        return np.concatenate([p_rel, p_dom])

    def _decide(self, doc_id: str, analysis: Analysis) -> tuple[Prediction, np.ndarray]:
        probs = self._probabilities(analysis)
        th = self.weights.thresholds
        relevant = bool(probs[0] >= th[0])
        scores = {d: round(float(probs[i + 1]), 4) for i, d in enumerate(self.domain_ids)}
        domains: tuple[str, ...] = ()
        countries: tuple[str, ...] = ()
        if relevant:
            domains = tuple(
                d for i, d in enumerate(self.domain_ids) if probs[i + 1] >= th[i + 1]
            )
            countries = analysis.parties
        prediction = Prediction(
            id=doc_id,
            relevant=relevant,
            relevance=round(float(probs[0]), 4),
            countries=countries,
            domains=domains,
            scores=scores,
            model_version=self.version,
        )
        return prediction, probs

    def predict(self, docs: Sequence[Document]) -> list[Prediction]:
        """Tags, scores and evidence words for each document, in order."""
        out: list[Prediction] = []
        for doc in docs:
            analysis = self.featurizer.analyse(doc.title, doc.text)
            prediction, _ = self._decide(doc.id, analysis)
            out.append(_with_evidence(prediction, self._evidence_texts(analysis, prediction)))
        return out

    def predict_one(self, doc: Document) -> Prediction:
        return self.predict([doc])[0]

    def explain(self, doc: Document) -> Explanation:
        """The prediction with, per tag, the evidence and its offsets, and the figures."""
        analysis = self.featurizer.analyse(doc.title, doc.text)
        prediction, _ = self._decide(doc.id, analysis)
        evidence = self._evidence(analysis, prediction, positions=True)
        prediction = _with_evidence(
            prediction,
            {t: tuple(dict.fromkeys(e.text for e in items)) for t, items in evidence.items()},
        )
        figures = {
            name: round(float(v), 4)
            for name, v in zip(self.featurizer.names, analysis.engineered, strict=True)
        }
        return Explanation(prediction, evidence, figures, analysis.full_text)

    # -- evidence -------------------------------------------------------------------

    def _word_weights(self, analysis: Analysis, labels: Sequence[int], *, positions: bool) -> dict[
        int, list[Evidence]
    ]:
        """Per label column, the text's words with the highest positive weights.

        Without positions (``predict``), a word's weight is its own bucket's and the words
        are given normalised; with positions (``explain``), its character n-grams count
        too and each word is given as written, at its first occurrence.
        """
        if positions:
            first: dict[str, tuple[str, int, int]] = {}
            for surface, start, end in word_spans(analysis.full_text):
                key = normalise(surface).strip()
                if len(key) >= _MIN_WORD_LEN and key not in first:
                    first[key] = (surface, start, end)
            keys = list(first)
            spans = [first[k] for k in keys]
            if not keys:
                return {label: [] for label in labels}
            score = np.stack([self.weights.hashed[word_feature_buckets(k, self.settings)]
                              .mean(axis=0) for k in keys])
        else:
            words = (analysis.normalised or normalise(analysis.full_text)).split()
            buckets, at = np.unique(analysis.word_buckets, return_index=True)
            keep = [i for i, j in enumerate(at) if len(words[j]) >= _MIN_WORD_LEN]
            spans = [(words[at[i]], -1, -1) for i in keep]
            if not keep:
                return {label: [] for label in labels}
            score = self.weights.hashed[buckets[keep]]
        out: dict[int, list[Evidence]] = {}
        for label in labels:
            col = score[:, label]
            order = np.argsort(-col, kind="stable")[:_TOP_WORDS]
            floor = max(float(col[order[0]]) * _WORD_SHARE, 1e-6) if order.size else 1.0
            out[label] = [Evidence("term", spans[i][0], spans[i][1], spans[i][2],
                                   round(float(col[i]), 4)) for i in order if col[i] >= floor]
        return out

    def _evidence_texts(self, analysis: Analysis, prediction: Prediction,
                        ) -> dict[str, tuple[str, ...]]:
        """The texts of :meth:`_evidence` without positions, each once, in its order."""
        index = {d: i + 1 for i, d in enumerate(self.domain_ids)}
        words = self._word_weights(analysis, [0] + [index[d] for d in prediction.domains],
                                   positions=False)
        full = analysis.full_text
        out: dict[str, tuple[str, ...]] = {}
        if prediction.relevant:
            rel = [full[h.start:h.end] for kind in ("cooperation", "health")
                   for h in analysis.relevance_hits.get(kind, ())]
            out["relevant"] = tuple(dict.fromkeys([*rel, *(e.text for e in words[0])]))
        for code in prediction.countries:
            for ev in analysis.countries:
                if ev.code == code:
                    out[code] = tuple(dict.fromkeys(m.surface for m in ev.mentions))
        for d in prediction.domains:
            cues = [full[h.start:h.end] for h in analysis.domain_hits if h.domain == d]
            out[d] = tuple(dict.fromkeys([*cues, *(e.text for e in words[index[d]])]))
        return out

    def _evidence(
        self, analysis: Analysis, prediction: Prediction, *, positions: bool
    ) -> dict[str, tuple[Evidence, ...]]:
        tags: dict[str, list[Evidence]] = {}
        index = {d: i + 1 for i, d in enumerate(self.domain_ids)}
        columns = [0] + [index[d] for d in prediction.domains]
        words = self._word_weights(analysis, columns, positions=positions)
        if prediction.relevant:
            rel: list[Evidence] = []
            for kind in ("cooperation", "health"):
                rel += [Evidence("cue", analysis.full_text[h.start : h.end], h.start, h.end,
                                 note=kind) for h in analysis.relevance_hits.get(kind, ())]
            rel += words[0]
            tags["relevant"] = rel
        for code in prediction.countries:
            for ev in analysis.countries:
                if ev.code == code:
                    tags[code] = [
                        Evidence("country", m.surface, m.start, m.end, round(ev.score, 4),
                                 "; ".join(ev.reasons))
                        for m in ev.mentions
                    ]
        for d in prediction.domains:
            cues = [Evidence("cue", analysis.full_text[h.start : h.end], h.start, h.end, note=d)
                    for h in analysis.domain_hits if h.domain == d]
            tags[d] = cues + words[index[d]]
        return {t: tuple(sorted(v, key=lambda e: (e.kind != "cue", e.start))) if positions
                else tuple(v) for t, v in tags.items()}


def _with_evidence(prediction: Prediction, evidence: Mapping[str, tuple[str, ...]]) -> Prediction:
    return Prediction(
        id=prediction.id,
        relevant=prediction.relevant,
        relevance=prediction.relevance,
        countries=prediction.countries,
        domains=prediction.domains,
        scores=prediction.scores,
        model_version=prediction.model_version,
        evidence=dict(evidence),
    )
