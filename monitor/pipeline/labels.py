"""The labeling unit: the queue, one item with the model's suggestions, saving and
undoing labels, import and export in the guide's format, agreement.

The web page (:mod:`monitor.web`) and the terminal labeler (``python -m monitor label``)
both work through these methods, so they offer the same queue and store the same
labels: annotator, time, the model version whose suggestion was shown, and whether
the annotator changed it. Relabeling keeps the history (the old label is superseded).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from classifiers.dataset import item_to_dict, parse_labeled_lines
from classifiers.errors import ClassifierError, LabelError
from classifiers.persistence import load_model
from classifiers.types import LabeledItem
from monitor.errors import LabelingError
from monitor.labeling import Agreement, LabeledContext, QueueEntry, agreement, order_queue
from monitor.pipeline.tags import TagUnit
from storage import classifications as tags
from storage import labeling as store
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import Classification, Item, Label, utcnow

log = logging.getLogger("monitor.labeling")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which items the queue may offer."""

    source: str | None = None
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    country: str | None = None
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What the model said of an item, shown pre-filled."""

    model_version: str
    relevant: bool
    relevance: float
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    scores: dict[str, float]
    evidence: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class LabelRecord:
    id: int
    annotator: str
    relevant: bool
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    suggested_by: str | None
    changed: bool
    created_at: datetime | None
    current: bool


@dataclass(frozen=True, slots=True)
class LabelView:
    """One item as the labeler shows it."""

    item_id: int
    title: str
    url: str
    text: str
    language: str | None
    sources: tuple[str, ...]
    published_at: datetime | None
    created_at: datetime | None
    suggestion: Suggestion | None
    history: tuple[LabelRecord, ...] = field(default=())


class LabelUnit(TagUnit):
    """Labeling; mixed into :class:`~monitor.pipeline.Pipeline`."""

    def _thresholds(self) -> tuple[float, dict[str, float]]:
        """The current model's decision thresholds (0.5 when no model is saved yet:
        choosing what to label never trains one)."""
        try:
            model = load_model(self.settings.model_dir)
        except (ClassifierError, OSError):
            return 0.5, {}
        th = [float(x) for x in model.weights.thresholds]
        return th[0], dict(zip(model.domain_ids, th[1:], strict=False))

    def label_queue(self, *, filters: QueueFilter | None = None,
                    limit: int = 50) -> list[QueueEntry]:
        """The next items to label, most useful first (see :mod:`monitor.labeling`)."""
        f = filters or QueueFilter()
        with session_scope(self.engine) as session:
            candidates = store.label_candidates(
                session=session, source=f.source, language=f.language, since=f.since,
                until=f.until, country=f.country, domain=f.domain)
            labeled = store.labeled_item_ids(session=session)
            clusters = store.band_clusters([c.item_id for c in candidates] + labeled,
                                           session=session)
            sources = store.source_names(labeled, session=session)
            languages = {item.language for i in labeled
                         if (item := session.get(Item, i)) is not None and item.language}
        context = LabeledContext(
            sources=frozenset(s for names in sources.values() for s in names),
            languages=frozenset(languages),
            clusters=frozenset(clusters[i] for i in labeled if i in clusters),
        )
        # a near-duplicate of a labeled item teaches little: not offered
        unlabeled = [c for c in candidates if clusters.get(c.item_id) not in context.clusters]
        rel, doms = self._thresholds()
        return order_queue(unlabeled, clusters=clusters, context=context,
                           relevance_threshold=rel, domain_thresholds=doms, limit=limit)

    def label_view(self, item_id: int) -> LabelView:
        """One item with its text, sources, the model's suggestion and its labels."""
        with session_scope(self.engine) as session:
            item = session.get(Item, item_id)
            if item is None:
                raise LabelingError(f"no item with id {item_id}")
            tagged = session.get(Classification, item_id)
            names = store.source_names([item_id], session=session).get(item_id, ())
            history = store.label_history(item_id, session=session)
        suggestion = None if tagged is None else Suggestion(
            model_version=tagged.model_version, relevant=tagged.relevant,
            relevance=tagged.relevance, countries=tuple(tagged.countries),
            domains=tuple(tagged.domains), scores=dict(tagged.scores),
            evidence={k: list(v) for k, v in tagged.evidence.items()})
        return LabelView(
            item_id=item_id, title=item.title, url=item.url, text=item.text or item.summary,
            language=item.language, sources=names, published_at=item.published_at,
            created_at=item.created_at, suggestion=suggestion,
            history=tuple(_record(x) for x in history))

    def save_label(self, item_id: int, *, annotator: str, relevant: bool,
                   countries: Sequence[str] = (), domains: Sequence[str] = (),
                   suggested_by: str | None = None) -> int:
        """Store a label (superseding the annotator's earlier one); its id.

        ``suggested_by`` is the model version whose suggestion was shown; ``changed``
        is recorded by comparing with that suggestion. Raises LabelingError for an
        unknown item, country or domain, or an empty annotator.
        """
        annotator = annotator.strip()
        if not annotator or len(annotator) > 100:
            raise LabelingError("an annotator name (1-100 characters) is needed")
        countries, domains = self._checked(countries, domains, relevant)
        now = utcnow()
        with session_scope(self.engine) as session:
            tagged = session.get(Classification, item_id)
            changed = False
            if suggested_by is not None and tagged is not None:
                changed = (relevant != tagged.relevant
                           or set(countries) != set(tagged.countries if relevant else ())
                           or set(domains) != set(tagged.domains if relevant else ()))
            try:
                row = tags.add_label(item_id, session=session, annotator=annotator,
                                     relevant=relevant, countries=countries, domains=domains,
                                     suggested_by=suggested_by, changed=changed, now=now)
            except NotFoundError as exc:
                raise LabelingError(str(exc)) from None
            assert row.id is not None
            log.info("label %d: item %d by %s (%s)", row.id, item_id, annotator,
                     "changed" if changed else "as suggested" if suggested_by else "new")
            return row.id

    def _checked(self, countries: Sequence[str], domains: Sequence[str], relevant: bool
                 ) -> tuple[list[str], list[str]]:
        if not relevant:
            return [], []
        line = json.dumps({"id": "x", "text": "x", "relevant": True,
                           "countries": list(countries), "domains": list(domains)})
        try:
            parse_labeled_lines([line], source="label", home=self.settings.home_country)
        except LabelError as exc:
            raise LabelingError("; ".join(m for _, m in exc.problems)) from None
        return list(countries), list(domains)

    def undo_last_label(self, *, annotator: str) -> int | None:
        """Take back the annotator's latest label; the item id, or None if none."""
        with session_scope(self.engine) as session:
            last = store.last_label_of(annotator, session=session)
            if last is None or last.id is None:
                return None
            store.undo_label(last.id, session=session)
            return last.item_id

    # ------------------------------------------------------------------ files

    def export_labels(self, out: TextIO, *, annotator: str | None = None) -> int:
        """Write the current labels as JSON Lines in the guide's format (the latest
        label of each item, or only ``annotator``'s); how many lines."""
        with session_scope(self.engine) as session:
            rows = tags.current_labels(session=session)
        latest: dict[int, tags.LabeledRow] = {}
        for row in rows:  # oldest first, so the newest label of an item wins
            if annotator is None or row.annotator == annotator:
                latest[row.item_id] = row
        for row in latest.values():
            item = LabeledItem(id=str(row.item_id), title=row.title, text=row.text,
                               relevant=row.relevant, countries=row.countries,
                               domains=row.domains, language=row.language, url=row.url)
            out.write(json.dumps(item_to_dict(item), ensure_ascii=False) + "\n")
        return len(latest)

    def import_labels(self, path: Path, *, annotator: str) -> tuple[int, int]:
        """Validate the whole file against the guide, then store every label in one
        transaction (nothing partial); (labels stored, items created)."""
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise LabelingError(f"{path}: line 0: not UTF-8: {exc.reason}") from None
        except OSError as exc:
            raise LabelingError(f"cannot read {path}: {exc.strerror}") from None
        try:
            items = parse_labeled_lines(raw.splitlines(), source=str(path),
                                        home=self.settings.home_country)
        except LabelError as exc:
            raise LabelingError(str(exc)) from None
        except ClassifierError as exc:
            raise LabelingError(f"{path}: {exc}") from None
        rows = [store.ImportRow(key=i.id, url=i.url, title=i.title, text=i.text,
                                language=i.language, relevant=i.relevant,
                                countries=i.countries, domains=i.domains) for i in items]
        with session_scope(self.engine) as session:
            return store.import_labels(rows, session=session, annotator=annotator,
                                       now=utcnow())

    def label_agreement(self) -> list[Agreement]:
        with session_scope(self.engine) as session:
            pairs = list(store.current_label_pairs(session=session))
        return agreement(labels for _, labels in pairs)


def _record(label: Label) -> LabelRecord:
    return LabelRecord(
        id=label.id or 0, annotator=label.annotator, relevant=label.relevant,
        countries=tuple(label.countries), domains=tuple(label.domains),
        suggested_by=label.suggested_by, changed=label.changed, created_at=label.created_at,
        current=label.superseded_at is None)
