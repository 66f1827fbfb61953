"""Saving and loading a classifier in a format that cannot run code when loaded.

A model directory holds two files, and a cache:

- ``weights.npz``: plain numpy arrays (``np.savez``, read with ``allow_pickle=False``).
  The hashed weights are stored sparsely (the buckets the training data used, and
  their rows); nothing else is saved, no pickle, no joblib.
- ``model.json``: the sidecar. Format version, model version, creation time (UTC,
  ISO 8601), library versions (Python, numpy, scikit-learn, scipy), the taxonomy's
  version hash, the training-data digest, the feature settings, the domain ids and the
  engineered features' names, the metrics, and a SHA-256 of every array.
- ``gazetteer.json`` (:data:`COMPILED_FILE`): the country gazetteer, compiled, so that a
  loaded model is ready to predict in a fraction of a second instead of building it
  (one to two seconds). Not part of the model: it records a digest of the data and code
  it was built from, and one that is missing, stale or unreadable is rebuilt (and
  written again when the directory is writable).

:func:`load_model` refuses (``ModelMismatchError``, naming what differs) a model whose
format version, feature settings, engineered features or taxonomy version are not the
running code's, or whose arrays do not match their checksums; a directory without a
model gives ``ModelNotFoundError``. Loading needs numpy only (no scikit-learn).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.errors import ModelMismatchError, ModelNotFoundError
from classifiers.features import FEATURES_VERSION, PROFILE_FEATURES, FeatureSettings, Featurizer
from classifiers.gazetteer import COMPILED_FILE, save_compiled
from classifiers.prediction import Classifier, ModelWeights

__all__ = ["COMPILED_FILE", "FORMAT_VERSION", "SIDECAR", "WEIGHTS", "load_model", "read_sidecar",
           "save_model"]

FORMAT_VERSION = 1
SIDECAR = "model.json"
WEIGHTS = "weights.npz"


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("scikit-learn", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - both are dependencies
            out[name] = "absent"
    return out


def _sha(arr: np.ndarray[Any, Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(clf: Classifier, directory: Path | str) -> Path:
    """Write ``clf`` to ``directory`` (created if need be); return the directory."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    w = clf.weights
    rows = np.flatnonzero(np.any(w.hashed != 0, axis=1)).astype(np.int64)
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "hashed_rows": rows,
        "hashed_values": np.ascontiguousarray(w.hashed[rows], dtype=np.float32),
    }
    for name, arr in w.arrays().items():
        if name != "hashed":
            arrays[name] = np.ascontiguousarray(arr, dtype=np.float32)

    def write_npz(path: Path) -> None:
        with path.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    _atomic_write(d / WEIGHTS, write_npz)
    meta = clf.metadata
    sidecar = {
        "format_version": FORMAT_VERSION,
        "model_version": clf.version,
        "created": meta.get("created"),
        "libraries": _library_versions(),
        "taxonomy_version": meta.get("taxonomy_version"),
        "training_digest": meta.get("training_digest"),
        "home": clf.home,
        "feature_settings": clf.settings.to_dict(),
        "domain_ids": list(clf.domain_ids),
        "engineered_features": list(meta.get("engineered_features", [])),
        "profile_features": list(meta.get("profile_features", [])),
        "metrics": meta.get("metrics", {}),
        "training": {k: meta[k] for k in ("seed", "labeled_items", "examples") if k in meta},
        "arrays": {name: _sha(arr) for name, arr in sorted(arrays.items())},
    }
    text = json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n"
    _atomic_write(d / SIDECAR, lambda p: p.write_text(text, encoding="utf-8"))
    save_compiled(d)  # the gazetteer, so that loading the model need not build it
    return d


def read_sidecar(directory: Path | str) -> dict[str, Any]:
    """The ``model.json`` of a saved model (``ModelNotFoundError`` when there is none)."""
    path = Path(directory) / SIDECAR
    if not path.is_file() or not (Path(directory) / WEIGHTS).is_file():
        raise ModelNotFoundError(
            f"no saved model in {directory} (expected {SIDECAR} and {WEIGHTS})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelMismatchError(f"{path}: unreadable sidecar: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelMismatchError(f"{path}: the sidecar is not a JSON object")
    return data


def _check(data: dict[str, Any], taxonomy: Any, where: Path) -> FeatureSettings:
    if data.get("format_version") != FORMAT_VERSION:
        raise ModelMismatchError(
            f"{where}: format version {data.get('format_version')!r}; this code reads "
            f"{FORMAT_VERSION}. Retrain the model."
        )
    try:
        settings = FeatureSettings.from_dict(data["feature_settings"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelMismatchError(f"{where}: feature settings unreadable: {exc}") from exc
    if settings.version != FEATURES_VERSION:
        raise ModelMismatchError(
            f"{where}: features version {settings.version}; this code computes version "
            f"{FEATURES_VERSION}. Retrain the model."
        )
    if set(data["feature_settings"]) != set(FeatureSettings().to_dict()):
        raise ModelMismatchError(f"{where}: feature settings keys differ from this code's")
    if str(data.get("taxonomy_version")) != str(taxonomy.version):
        raise ModelMismatchError(
            f"{where}: trained for taxonomy version {data.get('taxonomy_version')!r}, but the "
            f"taxonomy in use is {taxonomy.version!r}. Retrain the model on this taxonomy."
        )
    if list(data.get("domain_ids", [])) != list(taxonomy.ids()):
        raise ModelMismatchError(f"{where}: domain ids differ from the taxonomy's")
    return settings


def load_model(directory: Path | str, *, taxonomy: Any = None) -> Classifier:
    """Load a model saved by :func:`save_model`, checked against the running code."""
    d = Path(directory)
    data = read_sidecar(d)
    if taxonomy is None:
        from classifiers.taxonomy import load_taxonomy

        taxonomy = load_taxonomy()
    settings = _check(data, taxonomy, d / SIDECAR)
    home = str(data.get("home", "AZ"))
    featurizer = Featurizer(taxonomy, settings, home=home)
    if list(data.get("engineered_features", [])) != list(featurizer.names) or list(
        data.get("profile_features", [])
    ) != list(PROFILE_FEATURES):
        raise ModelMismatchError(f"{d / SIDECAR}: engineered features differ from this code's")
    try:
        with np.load(d / WEIGHTS, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise ModelMismatchError(f"{d / WEIGHTS}: unreadable weights: {exc}") from exc
    sums = data.get("arrays", {})
    if set(sums) != set(arrays) or any(_sha(arrays[k]) != sums[k] for k in arrays):
        raise ModelMismatchError(f"{d / WEIGHTS}: the arrays do not match the sidecar's checksums")
    rows, values = arrays["hashed_rows"], arrays["hashed_values"]
    n_labels = 1 + len(featurizer.domain_ids)
    if values.ndim != 2 or values.shape[1] != n_labels or (
        rows.size and (rows.min() < 0 or rows.max() >= settings.n_features)
    ):
        raise ModelMismatchError(f"{d / WEIGHTS}: array shapes do not fit the settings")
    hashed = np.zeros((settings.n_features, n_labels), dtype=np.float32)
    hashed[rows] = values
    names = [n for n in ModelWeights.__slots__ if n != "hashed"]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ModelMismatchError(f"{d / WEIGHTS}: arrays missing: {', '.join(missing)}")
    weights = ModelWeights(hashed=hashed, **{n: arrays[n] for n in names})
    metadata: dict[str, Any] = {
        "taxonomy_version": data.get("taxonomy_version"),
        "training_digest": data.get("training_digest"),
        "created": data.get("created"),
        "home": home,
        "metrics": data.get("metrics", {}),
        "libraries": data.get("libraries", {}),
        "domain_ids": list(featurizer.domain_ids),
        "engineered_features": list(featurizer.names),
        "profile_features": list(PROFILE_FEATURES),
        **data.get("training", {}),
    }
    featurizer.prepare(d)  # ready to predict: the gazetteer read compiled from d (or built)
    clf = Classifier(weights, settings, featurizer.domain_ids, taxonomy, home, metadata, featurizer)
    if data.get("model_version") and clf.version != data["model_version"]:
        raise ModelMismatchError(f"{d}: the weights give version {clf.version}, the sidecar "
                                 f"says {data['model_version']}")
    return clf
