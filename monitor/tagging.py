"""The classification stage: load (or, the first time, train) the model and tag texts.

It knows the ``classifiers`` library and the settings, nothing of the database: the
pipeline reads the queue, calls :meth:`Tagger.tag` and stores what it returns. A model
that cannot be loaded raises :class:`~monitor.errors.ClassificationError`; the items
then stay unclassified in the queue, never lost.

**Where models live** (:class:`ModelStore`): every model ``train`` makes is saved in
``<data_dir>/models/<version>/``; the current model's directory
(``settings.model_dir``, ``<data_dir>/model`` by default) is a symbolic link to one of
them, switched atomically (a new link renamed over the old one) when a model is
promoted. It is a plain directory when the daemon trained the first model itself or a
model was saved there by hand; the first promotion archives that model under
``models/`` and puts the link in its place. A :class:`Tagger` notices a switch (or a
model rewritten in place) at its next batch and loads the new model.

**The held-out slice**: a stored label whose id (``item-<n>``) hashes into one bucket
of :data:`HOLDOUT_BUCKETS` (:func:`held_out`) is never trained on, by ``train`` or by
the daemon's first model, so that every model can be scored on labels it never saw.
The slice depends on the item only: it is the same for every model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classifiers.dataset import load_seeds
from classifiers.errors import ClassifierError, ModelNotFoundError
from classifiers.persistence import SIDECAR, load_model, read_sidecar, save_model
from classifiers.prediction import Classifier
from classifiers.training import train
from classifiers.types import Document, LabeledItem, Prediction
from monitor.config import Settings
from monitor.errors import ClassificationError

__all__ = ["HOLDOUT_BUCKETS", "ModelStore", "SavedModel", "Tagger", "TrainingInfo", "held_out",
           "read_info", "split_held_out", "train_model", "write_info"]

log = logging.getLogger(__name__)

LabelSource = Callable[[], Sequence[LabeledItem]]
HOLDOUT_BUCKETS = 5
TRAINING_INFO = "training.json"


def held_out(label_id: str) -> bool:
    """Whether a stored label is in the held-out slice: the SHA-256 of its id (e.g.
    ``item-42``) falls in bucket 0 of :data:`HOLDOUT_BUCKETS` (one label in five)."""
    digest = hashlib.sha256(label_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % HOLDOUT_BUCKETS == 0


def split_held_out(items: Iterable[LabeledItem]) -> tuple[list[LabeledItem], list[LabeledItem]]:
    """(labels to train on, held-out labels)."""
    train_on: list[LabeledItem] = []
    kept: list[LabeledItem] = []
    for item in items:
        (kept if held_out(item.id) else train_on).append(item)
    return train_on, kept


@dataclass(frozen=True, slots=True)
class TrainingInfo:
    """What a model was trained on; saved beside it as ``training.json``.

    ``label_ids`` are the stored labels trained on (``None``: not known, e.g. a model
    saved before this file existed); ``held_out`` how many stored labels were kept out.
    """

    seeds: int = 0
    stored_labels: int = 0
    extra: int = 0
    label_ids: tuple[str, ...] | None = None
    held_out: int = 0
    extra_files: tuple[str, ...] = ()
    extra_held_out: int = 0  # extra items left out: they are held-out stored labels

    def to_dict(self) -> dict[str, Any]:
        return {"seeds": self.seeds, "stored_labels": self.stored_labels, "extra": self.extra,
                "label_ids": None if self.label_ids is None else list(self.label_ids),
                "held_out": self.held_out, "extra_files": list(self.extra_files),
                "extra_held_out": self.extra_held_out,
                "holdout_rule": f"sha256(id) % {HOLDOUT_BUCKETS} == 0"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingInfo:
        ids = data.get("label_ids")
        return cls(int(data.get("seeds", 0)), int(data.get("stored_labels", 0)),
                   int(data.get("extra", 0)), None if ids is None else tuple(map(str, ids)),
                   int(data.get("held_out", 0)), tuple(map(str, data.get("extra_files", ()))),
                   int(data.get("extra_held_out", 0)))


def train_model(settings: Settings, *, stored: Sequence[LabeledItem] = (),
                extra: Sequence[LabeledItem] = (), extra_files: Sequence[str] = (),
                ) -> tuple[Classifier, TrainingInfo]:
    """Train on the seeds, the ``stored`` labels outside the held-out slice and every
    ``extra`` item. Raises ClassificationError."""
    train_on, kept = split_held_out(stored)
    # an extra file may hold stored items (``labels export`` writes ids "<n>" and URLs):
    # those of the held-out slice stay out of training there too
    held_keys = {k for i in kept for k in (i.id, i.id.removeprefix("item-"), i.url) if k}
    used = [e for e in extra if e.id not in held_keys and e.url not in held_keys]
    try:
        seeds = load_seeds(settings.seeds_dir)
        model = train([*seeds, *train_on, *used], home=settings.home_country,
                      include_seeds=False)
    except (ClassifierError, OSError, ValueError) as exc:
        raise ClassificationError(f"training failed: {exc}") from exc
    info = TrainingInfo(seeds=len(seeds), stored_labels=len(train_on), extra=len(used),
                        label_ids=tuple(sorted({i.id for i in train_on})), held_out=len(kept),
                        extra_files=tuple(extra_files), extra_held_out=len(extra) - len(used))
    return model, info


def write_info(directory: Path, info: TrainingInfo) -> None:
    path = directory / TRAINING_INFO
    tmp = path.with_name(f".{TRAINING_INFO}.tmp")
    tmp.write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_info(directory: Path) -> TrainingInfo | None:
    """The ``training.json`` of a model directory, or None (absent or unreadable)."""
    try:
        data = json.loads((directory / TRAINING_INFO).read_text(encoding="utf-8"))
        return TrainingInfo.from_dict(data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class SavedModel:
    """A model on disk as its sidecar describes it (nothing is loaded)."""

    version: str
    path: Path  # the real directory (a link resolved)
    created: str
    linked: bool  # the current model's directory is a link to ``path``
    info: TrainingInfo | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class ModelStore:
    """The models on disk: ``<data_dir>/models/<version>/`` and the current one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "models"
        self.current_dir = settings.model_dir

    def version_dir(self, version: str) -> Path:
        return self.root / version

    def save(self, model: Classifier, info: TrainingInfo) -> Path:
        """Save ``model`` under ``models/<its version>/`` with its training info."""
        directory = self.version_dir(model.version)
        try:
            save_model(model, directory)
            write_info(directory, info)
        except OSError as exc:
            raise ClassificationError(f"cannot save the model to {directory}: {exc}") from exc
        return directory

    def current(self) -> SavedModel | None:
        """The current model's description; None when there is none.

        Raises ClassificationError when its sidecar cannot be read.
        """
        return self.describe(self.current_dir)

    def describe(self, directory: Path) -> SavedModel | None:
        try:
            data = read_sidecar(directory)
        except ModelNotFoundError:
            return None
        except ClassifierError as exc:
            raise ClassificationError(str(exc)) from exc
        real = Path(os.path.realpath(directory))
        return SavedModel(str(data.get("model_version") or ""), real,
                          str(data.get("created") or ""), directory.is_symlink(),
                          read_info(real), dict(data.get("metrics") or {}))

    def load(self, version: str) -> Classifier:
        """Load ``models/<version>/``, checked against this code. Raises
        ClassificationError."""
        return _load(self.version_dir(version))

    def load_current(self) -> Classifier:
        return _load(self.current_dir)

    def archive_current(self) -> SavedModel | None:
        """Copy a model kept in a plain current directory to ``models/<version>/``
        (once), so that it survives being replaced; its description (path: the copy)."""
        saved = self.current()
        if saved is None or saved.linked or not saved.version:
            return saved
        target = self.version_dir(saved.version)
        if not (target / SIDECAR).is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{saved.version}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(self.current_dir, tmp)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        return SavedModel(saved.version, target, saved.created, False, saved.info,
                          saved.metrics)

    def make_current(self, version: str) -> None:
        """Point the current model's directory at ``models/<version>/`` atomically.

        The model is loaded first: one that this code cannot use is refused
        (ClassificationError). A plain current directory is archived, then replaced by
        the link (two renames: the only moment there is no current model).
        """
        self.load(version)
        target = self.version_dir(version)
        cur = self.current_dir
        cur.parent.mkdir(parents=True, exist_ok=True)
        tmp = cur.parent / f".{cur.name}.{version}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(target, cur.parent), target_is_directory=True)
        try:
            if cur.is_symlink() or not cur.exists():
                tmp.replace(cur)
            else:
                try:
                    self.archive_current()
                    old, keep = cur.parent / f".{cur.name}.replaced.{os.getpid()}", False
                except ClassificationError:  # unreadable: moved aside, not deleted
                    old, keep = cur.parent / f"{cur.name}.unreadable.{os.getpid()}", True
                shutil.rmtree(old, ignore_errors=True)
                cur.rename(old)
                tmp.replace(cur)
                if not keep:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ClassificationError(f"cannot make {target} the current model: {exc}") from exc


def _load(directory: Path) -> Classifier:
    """Load a model from a directory (a link resolved first, so that both files come
    from the same model). Raises ClassificationError."""
    real = Path(os.path.realpath(directory))
    try:
        return load_model(real)
    except ModelNotFoundError as exc:
        raise ClassificationError(str(exc)) from exc
    except ClassifierError as exc:
        raise ClassificationError(f"the model in {directory} cannot be used: {exc}") from exc
    except OSError as exc:
        raise ClassificationError(f"cannot read the model in {directory}: {exc}") from exc


Signature = tuple[str, int, int, int]


class Tagger:
    """Tags documents with the current model, loaded once and shared by threads.

    With no saved model and ``classifier.auto_train`` on, the first use trains one on
    the seeds and the labels ``labels()`` returns (the held-out slice left out), and
    saves it. Each use checks (one ``stat``) whether the current model's directory now
    holds another model (``model promote``, or a model saved there) and loads it; a
    new model that cannot be used is logged and the loaded one kept.
    """

    def __init__(self, settings: Settings, *, labels: LabelSource | None = None) -> None:
        self.settings = settings
        self._labels = labels
        self._model: Classifier | None = None
        self._signature: Signature | None = None
        self._lock = threading.Lock()

    def model(self) -> Classifier:
        with self._lock:
            if self._model is None:
                self._signature = self._stat()
                self._model = self._load()
                return self._model
            signature = self._stat()
            if signature != self._signature:
                self._signature = signature
                if signature is not None:
                    self._switch()
            return self._model

    def reset(self) -> None:
        """Forget the loaded model: the next use loads the saved one again."""
        with self._lock:
            self._model = None

    def _stat(self) -> Signature | None:
        real = Path(os.path.realpath(self.settings.model_dir))
        try:
            st = (real / SIDECAR).stat()
        except OSError:
            return None
        return str(real), st.st_ino, st.st_mtime_ns, st.st_size

    def _switch(self) -> None:
        assert self._model is not None
        directory = self.settings.model_dir
        try:
            model = _load(directory)
        except ClassificationError as exc:
            log.warning("the model in %s changed but cannot be used (%s); still tagging "
                        "with %s", directory, exc, self._model.version)
            return
        if model.version != self._model.version:
            log.info("model %s replaces %s (from %s)", model.version, self._model.version,
                     directory)
            self._model = model

    def _load(self) -> Classifier:
        directory = self.settings.model_dir
        try:
            model = load_model(Path(os.path.realpath(directory)))
            log.info("model %s loaded from %s", model.version, directory)
            return model
        except ModelNotFoundError:
            if not self.settings.classifier.auto_train:
                raise ClassificationError(
                    f"no model in {directory}: run `python -m monitor train`") from None
        except ClassifierError as exc:
            raise ClassificationError(f"the model in {directory} cannot be used: {exc}") from exc
        except OSError as exc:
            raise ClassificationError(f"cannot read the model in {directory}: {exc}") from exc
        log.info("no model in %s yet: training one on the seeds", directory)
        stored = list(self._labels()) if self._labels else []
        model, info = train_model(self.settings, stored=stored)
        try:
            save_model(model, directory)
            write_info(directory, info)
        except OSError as exc:
            log.error("could not save the new model to %s: %s", directory, exc)
        self._signature = self._stat()
        return model

    def tag(self, docs: Sequence[Document]) -> list[Prediction]:
        """Predictions for the documents, in order. Raises ClassificationError."""
        if not docs:
            return []
        model = self.model()
        try:
            return model.predict(docs)
        except ClassifierError as exc:
            raise ClassificationError(f"classification failed: {exc}") from exc
