"""Tag stored items: the classification unit (see :mod:`monitor.pipeline`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence

from classifiers.types import Document, LabeledItem, Prediction
from monitor.errors import ClassificationError
from monitor.pipeline.base import PipelineBase
from monitor.tagging import Tagger
from monitor.types import ItemResult
from storage import classifications as tags
from storage.db import session_scope

log = logging.getLogger("monitor.pipeline")


class TagUnit(PipelineBase):
    """Classify stored items with the current model; mixed into :class:`Pipeline`."""

    _tagger: Tagger | None = None
    _loading: threading.Thread | None = None

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            self._tagger = Tagger(self.settings, labels=self.stored_labels)
        return self._tagger

    def stored_labels(self) -> list[LabeledItem]:
        """Every current human label, as training items."""
        with session_scope(self.engine) as session:
            rows = tags.current_labels(session=session)
        return [
            LabeledItem(id=f"item-{r.item_id}", title=r.title, text=r.text,
                        relevant=r.relevant, countries=r.countries, domains=r.domains,
                        language=r.language, url=r.url)
            for r in rows if r.text
        ]

    def classify_items(self, item_ids: Sequence[int] | None = None, *,
                       reclassify: bool = False) -> int:
        """Tag the queued items (or these ones); returns how many were tagged.

        With ``reclassify``, items tagged by another model version are tagged again.
        Raises ClassificationError when no model can be had: the items stay queued.
        """
        done = 0
        batch = self.settings.classifier.batch_size
        while not self._stopping.is_set():
            # read each pass: a model promoted meanwhile becomes the one to tag with
            version = self.tagger.model().version if reclassify else None
            with session_scope(self.engine) as session:
                rows = tags.items_to_classify(session=session, model_version=version,
                                              limit=batch, item_ids=item_ids)
            if not rows:
                break
            docs = [Document(str(i), title, text, lang) for i, title, text, lang in rows]
            predictions = self.tagger.tag(docs)
            records = [_record(int(p.id), p) for p in predictions]
            with session_scope(self.engine) as session:
                tags.save_classifications(records, session=session)
            done += len(records)
            if len(rows) < batch:
                break
        if done:
            log.info("tagged %d items", done)
        return done

    def load_model_ahead(self) -> None:
        """When tagging is on, load the model in a background thread now, so that it
        is ready when the first items are stored. A failure is not reported here:
        the first tagging reports it (or trains a model, with ``auto_train``)."""
        if not self.settings.classifier.enabled or self._loading is not None:
            return
        tagger = self.tagger  # made here, in one thread: threads share one Tagger
        self._loading = threading.Thread(target=_load_quietly, args=(tagger,),
                                         name="load-model", daemon=True)
        self._loading.start()

    def wait_for_model(self) -> None:
        """Wait for a load started by :meth:`load_model_ahead` (a first model may be
        being trained and saved: a pass does not end in the middle of that)."""
        loading, self._loading = self._loading, None
        if loading is not None:
            loading.join()

    def tag_while_storing(self, results: Iterable[ItemResult]) -> Iterator[ItemResult]:
        """Pass item results on, tagging the stored items each time a batch of them
        is ready (while the next items are still being fetched and extracted). The
        items of a last, partial batch are left in the queue for the caller to tag.
        After a failure (no model) no more is tried: the items stay queued."""
        batch = self.settings.classifier.batch_size
        ready = 0
        trying = self.settings.classifier.enabled
        for result in results:
            yield result
            ready += result.status == "done"
            if trying and ready >= batch and not self._stopping.is_set():
                ready = 0
                try:
                    self.classify_items()
                except ClassificationError:
                    trying = False  # the caller's classify_quietly reports it, once

    def classify_quietly(self, item_ids: Sequence[int] | None = None) -> int:
        """Like :meth:`classify_items` when enabled, logging a missing model instead
        of raising: ingest goes on and the items wait in the queue."""
        if not self.settings.classifier.enabled:
            return 0
        try:
            return self.classify_items(item_ids)
        except ClassificationError as exc:
            log.error("items stay unclassified (queued): %s", exc)
            return 0


def _record(item_id: int, p: Prediction) -> tags.ClassificationRecord:
    return tags.ClassificationRecord(
        item_id=item_id, model_version=p.model_version, relevant=p.relevant,
        relevance=p.relevance, countries=p.countries, domains=p.domains,
        scores=dict(p.scores), evidence={k: list(v) for k, v in p.evidence.items()},
    )


def _load_quietly(tagger: Tagger) -> None:
    try:
        tagger.model()
    except ClassificationError as exc:
        log.debug("model not loaded ahead: %s", exc)
