"""Queries for labeling: queue candidates, what is labeled already, undo, import and
agreement between annotators (keyword-only ``session=``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import Classification, Item, ItemBand, ItemSource, ItemStatus, Label, Source

__all__ = [
    "ImportRow",
    "LabelCandidate",
    "band_clusters",
    "current_label_pairs",
    "import_labels",
    "label_candidates",
    "label_history",
    "labeled_item_ids",
    "labels_by_item",
    "last_label_of",
    "source_names",
    "undo_label",
]


@dataclass(frozen=True, slots=True)
class LabelCandidate:
    """An unlabeled, tagged item that the queue may offer."""

    item_id: int
    title: str
    language: str | None
    created_at: datetime | None
    relevant: bool
    relevance: float
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    scores: dict[str, float]
    model_version: str
    sources: tuple[str, ...] = ()


def label_candidates(*, session: Session, source: str | None = None,
                     language: str | None = None, since: datetime | None = None,
                     until: datetime | None = None, country: str | None = None,
                     domain: str | None = None, limit: int = 1000) -> list[LabelCandidate]:
    """Stored, tagged items that nobody has labeled, newest first, filtered."""
    labeled = select(Label.item_id).where(col(Label.superseded_at).is_(None))
    query = (select(Item, Classification)
             .join(Classification, col(Classification.item_id) == col(Item.id))
             .where(Item.status == ItemStatus.DONE)
             .where(col(Item.id).not_in(labeled)))
    if source is not None:
        query = query.where(col(Item.id).in_(
            select(ItemSource.item_id).join(Source, col(Source.id) == col(ItemSource.source_id))
            .where(Source.name == source)))
    if language is not None:
        query = query.where(Item.language == language)
    if since is not None:
        query = query.where(col(Item.created_at) >= since)
    if until is not None:
        query = query.where(col(Item.created_at) < until)
    query = query.order_by(col(Item.created_at).desc(), col(Item.id).desc())
    out = []
    for item, tags in session.exec(query.limit(limit * 4)).all():
        if country is not None and country not in tags.countries:
            continue
        if domain is not None and domain not in tags.domains:
            continue
        assert item.id is not None
        out.append(LabelCandidate(
            item_id=item.id, title=item.title, language=item.language,
            created_at=item.created_at,
            relevant=tags.relevant, relevance=tags.relevance, countries=tuple(tags.countries),
            domains=tuple(tags.domains), scores=dict(tags.scores),
            model_version=tags.model_version))
        if len(out) >= limit:
            break
    names = source_names([c.item_id for c in out], session=session)
    return [_with_sources(c, names.get(c.item_id, ())) for c in out]


def _with_sources(c: LabelCandidate, sources: Sequence[str]) -> LabelCandidate:
    return LabelCandidate(c.item_id, c.title, c.language, c.created_at, c.relevant,
                          c.relevance, c.countries, c.domains, c.scores, c.model_version,
                          tuple(sources))


def source_names(item_ids: Sequence[int], *, session: Session) -> dict[int, tuple[str, ...]]:
    names: dict[int, list[str]] = {}
    for start in range(0, len(item_ids), 500):
        chunk = list(item_ids[start:start + 500])
        query = (select(ItemSource.item_id, Source.name)
                 .join(Source, col(Source.id) == col(ItemSource.source_id))
                 .where(col(ItemSource.item_id).in_(chunk)))
        for item_id, name in session.exec(query).all():
            if name not in names.setdefault(item_id, []):
                names[item_id].append(name)
    return {k: tuple(v) for k, v in names.items()}


def labeled_item_ids(*, session: Session) -> list[int]:
    query = select(Label.item_id).where(col(Label.superseded_at).is_(None)).distinct()
    return [i for i in session.exec(query).all() if i is not None]


def band_clusters(item_ids: Sequence[int], *, session: Session) -> dict[int, int]:
    """Near-duplicate clusters: items sharing any LSH band are joined; each item maps
    to the smallest id of its cluster (items with no bands map to themselves)."""
    parent = {i: i for i in item_ids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[tuple[int, int], int] = {}
    for start in range(0, len(item_ids), 500):
        chunk = list(item_ids[start:start + 500])
        query = select(ItemBand.item_id, ItemBand.band, ItemBand.value).where(
            col(ItemBand.item_id).in_(chunk))
        for item_id, band, value in session.exec(query).all():
            key = (band, value)
            if key in first:
                a, b = find(first[key]), find(item_id)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[key] = item_id
    return {i: find(i) for i in item_ids}


def label_history(item_id: int, *, session: Session) -> list[Label]:
    """Every label of an item, superseded ones included, oldest first."""
    query = select(Label).where(Label.item_id == item_id).order_by(col(Label.id))
    return list(session.exec(query).all())


def labels_by_item(*, session: Session) -> dict[int, list[Label]]:
    """Current labels (not superseded), grouped by item."""
    query = select(Label).where(col(Label.superseded_at).is_(None)).order_by(col(Label.id))
    out: dict[int, list[Label]] = {}
    for label in session.exec(query).all():
        out.setdefault(label.item_id, []).append(label)
    return out


def last_label_of(annotator: str, *, session: Session) -> Label | None:
    query = (select(Label).where(Label.annotator == annotator)
             .where(col(Label.superseded_at).is_(None))
             .order_by(col(Label.created_at).desc(), col(Label.id).desc()).limit(1))
    return session.exec(query).first()


def undo_label(label_id: int, *, session: Session) -> Label | None:
    """Take a label back: it is deleted and the label it superseded (same item and
    annotator) becomes current again, which is returned (None if there was none)."""
    row = session.get(Label, label_id)
    if row is None:
        raise NotFoundError(f"no label with id {label_id}")
    previous = session.exec(
        select(Label).where(Label.item_id == row.item_id)
        .where(Label.annotator == row.annotator).where(col(Label.id) < label_id)
        .order_by(col(Label.id).desc()).limit(1)
    ).first()
    session.delete(row)
    if previous is not None and row.superseded_at is None:
        previous.superseded_at = None
        session.add(previous)
    session.flush()
    return previous


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One validated line of a labels file."""

    key: str  # the line's id
    url: str
    title: str
    text: str
    language: str | None
    relevant: bool
    countries: Sequence[str]
    domains: Sequence[str]


def import_labels(rows: Sequence[ImportRow], *, session: Session, annotator: str,
                  now: datetime) -> tuple[int, int]:
    """Store labels for the rows, in the caller's transaction: a row whose URL (or id,
    when it is a stored item id) is a stored item labels it; any other becomes a new
    item (``method = "import"``) so that training can use it. Returns (labels, new items)."""
    created = 0
    for row in rows:
        item = _find_item(row, session=session)
        if item is None:
            url = row.url or f"urn:label:{row.key}"
            item = Item(canonical_url=url, url=url, title=row.title, text=row.text,
                        language=row.language, created_at=now, processed_at=now,
                        status=ItemStatus.DONE, method="import")
            session.add(item)
            session.flush()
            created += 1
        assert item.id is not None
        session.execute(
            sa.update(Label).where(col(Label.item_id) == item.id)
            .where(col(Label.annotator) == annotator).where(col(Label.superseded_at).is_(None))
            .values(superseded_at=now))
        session.add(Label(item_id=item.id, annotator=annotator, relevant=row.relevant,
                          countries=sorted(set(row.countries)) if row.relevant else [],
                          domains=list(dict.fromkeys(row.domains)) if row.relevant else [],
                          suggested_by=None, changed=False, created_at=now))
    session.flush()
    return len(rows), created


def _find_item(row: ImportRow, *, session: Session) -> Item | None:
    """The stored item a line labels: by its URL (or the placeholder an earlier import
    gave it), else by its id when that is a stored item's id."""
    urls = [u for u in (row.url, f"urn:label:{row.key}") if u]
    found = session.exec(select(Item).where(
        sa.or_(col(Item.canonical_url).in_(urls), col(Item.url).in_(urls)))).first()
    if found is None and row.key.isdigit():
        return session.get(Item, int(row.key))
    return found


def current_label_pairs(*, session: Session) -> Iterable[tuple[int, list[dict[str, Any]]]]:
    """For agreement: per item with labels from two or more annotators, their labels."""
    for item_id, labels in labels_by_item(session=session).items():
        people = {label.annotator for label in labels}
        if len(people) >= 2:
            yield item_id, [{"annotator": label.annotator, "relevant": label.relevant,
                             "countries": list(label.countries),
                             "domains": list(label.domains)} for label in labels]
