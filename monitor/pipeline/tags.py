"""Tag stored items: the classification unit (see :mod:`monitor.pipeline`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from classifiers.types import Document, LabeledItem, Prediction
from monitor.errors import ClassificationError
from monitor.pipeline.base import PipelineBase
from monitor.tagging import Tagger
from storage import classifications as tags
from storage.db import session_scope

log = logging.getLogger("monitor.pipeline")


class TagUnit(PipelineBase):
    """Classify stored items with the current model; mixed into :class:`Pipeline`."""

    _tagger: Tagger | None = None

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
        version = self.tagger.model().version if reclassify else None
        while not self._stopping.is_set():
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
