"""Queries for classifications and human labels (keyword-only ``session=``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import Classification, Item, ItemStatus, Label, utcnow

__all__ = [
    "ClassificationRecord",
    "LabeledRow",
    "add_label",
    "classification_counts",
    "current_labels",
    "get_classification",
    "items_to_classify",
    "save_classifications",
]


@dataclass(frozen=True, slots=True)
class ClassificationRecord:
    """What a model said of one item, ready to store."""

    item_id: int
    model_version: str
    relevant: bool
    relevance: float
    countries: Sequence[str]
    domains: Sequence[str]
    scores: Mapping[str, float]
    evidence: Mapping[str, Sequence[str]]


def save_classifications(records: Sequence[ClassificationRecord], *, session: Session,
                         now: datetime | None = None) -> None:
    """Store the tags of items, replacing any earlier ones (idempotent)."""
    if not records:
        return
    now = now or utcnow()
    ids = [r.item_id for r in records]
    session.execute(sa.delete(Classification).where(col(Classification.item_id).in_(ids)))
    for r in records:
        session.add(Classification(
            item_id=r.item_id, model_version=r.model_version, relevant=r.relevant,
            relevance=float(r.relevance), countries=list(r.countries), domains=list(r.domains),
            scores={k: float(v) for k, v in r.scores.items()},
            evidence={k: list(v) for k, v in r.evidence.items()}, classified_at=now,
        ))
    session.flush()


def get_classification(item_id: int, *, session: Session) -> Classification:
    row = session.get(Classification, item_id)
    if row is None:
        raise NotFoundError(f"item {item_id} is not classified")
    return row


def items_to_classify(*, session: Session, model_version: str | None = None,
                      limit: int = 1000, item_ids: Sequence[int] | None = None,
                      ) -> list[tuple[int, str, str, str | None]]:
    """Processed items with no tags, or (given ``model_version``) tags by another model:
    ``(id, title, text, language)``, oldest first. This is the classification queue."""
    query = (
        select(Item.id, Item.title, Item.text, Item.language)
        .outerjoin(Classification, col(Classification.item_id) == col(Item.id))
        .where(Item.status == ItemStatus.DONE)
        .order_by(col(Item.id)).limit(limit)
    )
    if model_version is None:
        query = query.where(col(Classification.item_id).is_(None))
    else:
        query = query.where(sa.or_(col(Classification.item_id).is_(None),
                                   col(Classification.model_version) != model_version))
    if item_ids is not None:
        query = query.where(col(Item.id).in_(list(item_ids)))
    return [(i, t or "", x or "", lang) for i, t, x, lang in session.exec(query).all()
            if i is not None]


def classification_counts(*, session: Session) -> dict[str, int]:
    """Classified, relevant and waiting items."""
    classified = session.exec(select(sa.func.count()).select_from(Classification)).one()
    relevant = session.exec(select(sa.func.count()).select_from(Classification)
                            .where(col(Classification.relevant).is_(True))).one()
    done = session.exec(select(sa.func.count()).select_from(Item)
                        .where(Item.status == ItemStatus.DONE)).one()
    return {"classified": int(classified), "relevant": int(relevant),
            "unclassified": int(done) - int(classified)}


def add_label(item_id: int, *, session: Session, annotator: str, relevant: bool,
              countries: Sequence[str] = (), domains: Sequence[str] = (),
              suggested_by: str | None = None, changed: bool = False,
              now: datetime | None = None) -> Label:
    """Store a human label; an earlier label of the same annotator is superseded."""
    now = now or utcnow()
    if session.get(Item, item_id) is None:
        raise NotFoundError(f"no item with id {item_id}")
    session.execute(
        sa.update(Label)
        .where(col(Label.item_id) == item_id, col(Label.annotator) == annotator,
               col(Label.superseded_at).is_(None))
        .values(superseded_at=now)
    )
    row = Label(item_id=item_id, annotator=annotator, relevant=relevant,
                countries=sorted(set(countries)) if relevant else [],
                domains=list(dict.fromkeys(domains)) if relevant else [],
                suggested_by=suggested_by, changed=changed, created_at=now)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class LabeledRow:
    """A current human label with its item's text, for training."""

    item_id: int
    url: str
    language: str | None
    title: str
    text: str
    relevant: bool
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    annotator: str


def current_labels(*, session: Session) -> list[LabeledRow]:
    """Every label not superseded, joined with its item's text (newest label per item
    and annotator)."""
    query = (
        select(Label, Item).join(Item, col(Item.id) == col(Label.item_id))
        .where(col(Label.superseded_at).is_(None)).order_by(col(Label.id))
    )
    return [
        LabeledRow(item_id=item.id or 0, url=item.url, language=item.language,
                   title=item.title, text=item.text or item.summary, relevant=label.relevant,
                   countries=tuple(label.countries), domains=tuple(label.domains),
                   annotator=label.annotator)
        for label, item in session.exec(query).all()
    ]
