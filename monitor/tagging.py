"""The classification stage: load (or, the first time, train) the model and tag texts.

It knows the ``classifiers`` library and the settings, nothing of the database: the
pipeline reads the queue, calls :meth:`Tagger.tag` and stores what it returns. A model
that cannot be loaded raises :class:`~monitor.errors.ClassificationError`; the items
then stay unclassified in the queue, never lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from classifiers.dataset import load_seeds
from classifiers.errors import ClassifierError, ModelNotFoundError
from classifiers.persistence import load_model, save_model
from classifiers.prediction import Classifier
from classifiers.training import train
from classifiers.types import Document, LabeledItem, Prediction
from monitor.config import Settings
from monitor.errors import ClassificationError

__all__ = ["Tagger", "train_model"]

log = logging.getLogger(__name__)

LabelSource = Callable[[], Sequence[LabeledItem]]


def train_model(settings: Settings, *, extra: Sequence[LabeledItem] = ()) -> Classifier:
    """Train on the seeds plus ``extra`` labeled items. Raises ClassificationError."""
    try:
        seeds = load_seeds(settings.seeds_dir)
        return train([*seeds, *extra], home=settings.home_country, include_seeds=False)
    except (ClassifierError, OSError) as exc:
        raise ClassificationError(f"training failed: {exc}") from exc


class Tagger:
    """Tags documents with the current model, loaded once and shared by threads.

    With no saved model and ``classifier.auto_train`` on, the first use trains one on
    the seeds and the labels ``labels()`` returns, and saves it.
    """

    def __init__(self, settings: Settings, *, labels: LabelSource | None = None) -> None:
        self.settings = settings
        self._labels = labels
        self._model: Classifier | None = None
        self._lock = threading.Lock()

    def model(self) -> Classifier:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def reset(self) -> None:
        """Forget the loaded model: the next use loads the saved one again."""
        with self._lock:
            self._model = None

    def _load(self) -> Classifier:
        directory = self.settings.model_dir
        try:
            model = load_model(directory)
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
        extra = list(self._labels()) if self._labels else []
        model = train_model(self.settings, extra=extra)
        try:
            save_model(model, directory)
        except OSError as exc:
            log.error("could not save the new model to %s: %s", directory, exc)
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
