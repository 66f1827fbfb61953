"""Every query of the service. Functions take a keyword-only ``session=``.

Writes are idempotent: inserts name their conflict target (a named unique
constraint) and do nothing on conflict, so a pass killed halfway and run again
stores each item exactly once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, or_, select

from storage.errors import NotFoundError
from storage.models import (
    FetchLog,
    Item,
    ItemBand,
    ItemCreate,
    ItemSource,
    ItemStatus,
    Source,
    SourceCreate,
    utcnow,
)

__all__ = [
    "FetchRecord",
    "SourceHealth",
    "add_fetch_log",
    "add_source",
    "due_sources",
    "find_by_content_hash",
    "get_item",
    "get_source",
    "get_source_by_name",
    "insert_items",
    "item_counts",
    "item_sources",
    "list_items",
    "list_sources",
    "mark_duplicate",
    "mark_item_failed",
    "near_duplicate_candidates",
    "pending_items",
    "record_fetch_failure",
    "record_fetch_success",
    "remove_source",
    "source_health",
    "store_article",
    "sync_sources",
    "unknown_urls",
]

_SPEC_FIELDS = (
    "url", "kind", "language", "interval", "enabled", "note", "link_selector", "link_pattern",
)


def _insert_ignore(session: Session, table: sa.Table, rows: list[dict[str, Any]],
                   conflict: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (conflict) DO NOTHING, on SQLite and PostgreSQL."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(rows)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(rows)
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(f"upserts are not written for {dialect}")
    session.execute(stmt.on_conflict_do_nothing(index_elements=list(conflict)))


# --------------------------------------------------------------------------- sources


def sync_sources(specs: Iterable[SourceCreate], *, session: Session,
                 now: datetime | None = None) -> list[Source]:
    """Make the configured sources exist; update the ones the config owns.

    A source removed with ``sources remove`` stays removed; a source added from
    the command line is not overwritten by the config.
    """
    now = now or utcnow()
    out = []
    for spec in specs:
        row = session.exec(select(Source).where(Source.name == spec.name)).first()
        if row is None:
            row = Source(**spec.model_dump(), created_at=now, updated_at=now)
            session.add(row)
        elif row.removed_at is None and row.origin == spec.origin:
            changed = False
            for name in _SPEC_FIELDS:
                if getattr(row, name) != getattr(spec, name):
                    setattr(row, name, getattr(spec, name))
                    changed = True
            if changed:
                row.updated_at = now
        out.append(row)
    session.flush()
    return out


def add_source(spec: SourceCreate, *, session: Session, now: datetime | None = None) -> Source:
    """Add a source, or bring back a removed one of that name. ValueError if it exists."""
    now = now or utcnow()
    row = session.exec(select(Source).where(Source.name == spec.name)).first()
    if row is not None and row.removed_at is None:
        raise ValueError(f"a source named {spec.name!r} already exists")
    if row is None:
        row = Source(**spec.model_dump(), created_at=now, updated_at=now)
        session.add(row)
    else:
        for name in (*_SPEC_FIELDS, "origin"):
            setattr(row, name, getattr(spec, name))
        row.removed_at = None
        row.disabled_reason = None
        row.error_streak = 0
        row.next_attempt_at = None
        row.updated_at = now
    session.flush()
    return row


def remove_source(name: str, *, session: Session, now: datetime | None = None) -> Source:
    """Mark a source removed: never polled again, not brought back by the config.

    Its items and their history stay.
    """
    row = get_source_by_name(name, session=session)
    row.removed_at = now or utcnow()
    row.enabled = False
    session.flush()
    return row


def get_source(source_id: int, *, session: Session) -> Source:
    row = session.get(Source, source_id)
    if row is None:
        raise NotFoundError(f"no source with id {source_id}")
    return row


def get_source_by_name(name: str, *, session: Session) -> Source:
    row = session.exec(select(Source).where(Source.name == name)).first()
    if row is None or row.removed_at is not None:
        raise NotFoundError(f"no source named {name!r}")
    return row


def list_sources(*, session: Session, include_removed: bool = False) -> list[Source]:
    query = select(Source).order_by(col(Source.name))
    if not include_removed:
        query = query.where(col(Source.removed_at).is_(None))
    return list(session.exec(query))


def due_sources(now: datetime, *, session: Session) -> list[Source]:
    """Enabled sources whose next attempt is due (or never scheduled)."""
    query = (
        select(Source)
        .where(col(Source.enabled).is_(True), col(Source.removed_at).is_(None))
        .where(or_(col(Source.next_attempt_at).is_(None), col(Source.next_attempt_at) <= now))
        .order_by(col(Source.id))
    )
    return list(session.exec(query))


def record_fetch_success(
    source_id: int, *, session: Session, now: datetime, http_status: int,
    etag: str | None, last_modified: str | None, next_attempt_at: datetime,
    new_url: str | None = None, new_items: int = 0,
) -> Source:
    row = get_source(source_id, session=session)
    row.last_attempt_at = now
    row.last_success_at = now
    row.last_status = http_status
    row.error_streak = 0
    row.last_error = None
    row.next_attempt_at = next_attempt_at
    if http_status != 304:
        row.etag = etag
        row.last_modified = last_modified
    if new_url and new_url != row.url:
        row.url = new_url
    if new_items:
        row.last_new_item_at = now
    row.updated_at = now
    session.flush()
    return row


def record_fetch_failure(
    source_id: int, *, session: Session, now: datetime, error: str,
    next_attempt_at: datetime, http_status: int | None = None, disable_reason: str | None = None,
) -> Source:
    row = get_source(source_id, session=session)
    row.last_attempt_at = now
    row.last_status = http_status
    row.error_streak += 1
    row.last_error = error
    row.next_attempt_at = next_attempt_at
    if disable_reason:
        row.enabled = False
        row.disabled_reason = disable_reason
    row.updated_at = now
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class FetchRecord:
    source_id: int
    started_at: datetime
    duration_ms: int
    outcome: str
    http_status: int | None = None
    bytes: int = 0
    new_items: int = 0
    error: str | None = None


def add_fetch_log(record: FetchRecord, *, session: Session) -> None:
    session.add(FetchLog(
        source_id=record.source_id, started_at=record.started_at,
        duration_ms=record.duration_ms, http_status=record.http_status,
        outcome=record.outcome, bytes=record.bytes, new_items=record.new_items,
        error=record.error,
    ))
    session.flush()


@dataclass(frozen=True, slots=True)
class SourceHealth:
    source: Source
    items: int
    fetches: int
    failures: int
    usual_gap: float | None  # median seconds between fetches that brought new items


def source_health(*, session: Session, recent: int = 50) -> list[SourceHealth]:
    """Per source: stored items, recent fetch counts and the usual gap between news."""
    items = dict(session.exec(
        select(ItemSource.source_id, func.count()).group_by(col(ItemSource.source_id))
    ).all())
    out = []
    for src in list_sources(session=session):
        logs = list(session.exec(
            select(FetchLog).where(FetchLog.source_id == src.id)
            .order_by(col(FetchLog.started_at).desc()).limit(recent)
        ))
        news = sorted(log.started_at for log in logs if log.new_items and log.started_at)
        gaps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(news))
        out.append(SourceHealth(
            source=src, items=int(items.get(src.id or 0, 0)), fetches=len(logs),
            failures=sum(1 for log in logs if log.outcome == "error"),
            usual_gap=gaps[len(gaps) // 2] if gaps else None,
        ))
    return out


# --------------------------------------------------------------------------- items


def insert_items(
    source_id: int, entries: Sequence[tuple[str, ItemCreate]], *, session: Session,
    now: datetime | None = None,
) -> tuple[list[int], int]:
    """Store entries found in a source; returns (ids of items new to the database, seen).

    ``entries`` pairs each item with its GUID in this source. An item whose
    canonical URL is already stored is linked to this source, not stored again.
    """
    now = now or utcnow()
    if not entries:
        return [], 0
    guids = [g for g, _ in entries]
    known = set(session.exec(
        select(ItemSource.guid).where(ItemSource.source_id == source_id,
                                      col(ItemSource.guid).in_(guids))
    ))
    fresh = [(g, e) for g, e in dict(entries).items() if g not in known]
    if not fresh:
        return [], len(entries)
    urls = [e.canonical_url for _, e in fresh]
    before = set(session.exec(select(Item.canonical_url).where(col(Item.canonical_url).in_(urls))))
    rows = [{**e.model_dump(), "created_at": now, "status": ItemStatus.PENDING}
            for _, e in fresh if e.canonical_url not in before]
    _insert_ignore(session, Item.__table__, _unique_by(rows, "canonical_url"),  # type: ignore[attr-defined]
                   ["canonical_url"])
    ids = dict(session.exec(
        select(Item.canonical_url, Item.id).where(col(Item.canonical_url).in_(urls))
    ).all())
    links = [{"item_id": ids[e.canonical_url], "source_id": source_id, "guid": g,
              "first_seen_at": now} for g, e in fresh]
    _insert_ignore(session, ItemSource.__table__, links, ["source_id", "guid"])  # type: ignore[attr-defined]
    session.flush()
    new_ids = {ids[u] for u in urls if u not in before}
    return sorted(i for i in new_ids if i is not None), len(entries) - len(fresh)


def unknown_urls(canonical_urls: Sequence[str], *, session: Session) -> list[str]:
    """The canonical URLs among these that no stored item has."""
    known = set(session.exec(
        select(Item.canonical_url).where(col(Item.canonical_url).in_(list(canonical_urls)))
    ))
    return [u for u in dict.fromkeys(canonical_urls) if u not in known]


def item_counts(*, session: Session) -> dict[str, int]:
    """How many items are in each status."""
    rows = session.exec(select(Item.status, func.count()).group_by(col(Item.status))).all()
    return {status: int(n) for status, n in rows}


def _unique_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    seen: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(row[key], row)
    return list(seen.values())


def pending_items(*, session: Session, limit: int = 1000, max_attempts: int = 3,
                  source_id: int | None = None) -> list[int]:
    """Ids of items not yet processed, oldest first."""
    query = (
        select(Item.id)
        .where(Item.status == ItemStatus.PENDING, col(Item.attempts) < max_attempts)
        .order_by(col(Item.id)).limit(limit)
    )
    if source_id is not None:
        query = query.where(col(Item.id).in_(
            select(ItemSource.item_id).where(ItemSource.source_id == source_id)
        ))
    return [i for i in session.exec(query) if i is not None]


def get_item(item_id: int, *, session: Session) -> Item:
    row = session.get(Item, item_id)
    if row is None:
        raise NotFoundError(f"no item with id {item_id}")
    return row


def store_article(
    item_id: int, *, session: Session, text: str, method: str, content_hash: str,
    minhash: bytes, bands: Sequence[int], title: str = "", author: str = "",
    sitename: str = "", language: str | None = None, published_at: datetime | None = None,
    now: datetime | None = None,
) -> Item:
    """Store an item's extracted text and its fingerprints; the item becomes ``done``."""
    row = get_item(item_id, session=session)
    row.text = text
    row.method = method
    row.content_hash = content_hash
    row.minhash = minhash
    row.title = title or row.title
    row.author = author or row.author
    row.sitename = sitename or row.sitename
    row.language = language
    row.published_at = row.published_at or published_at
    row.status = ItemStatus.DONE
    row.processed_at = now or utcnow()
    row.attempts += 1
    row.last_error = None
    session.execute(sa.delete(ItemBand).where(col(ItemBand.item_id) == item_id))
    _insert_ignore(
        session, ItemBand.__table__,  # type: ignore[attr-defined]
        [{"item_id": item_id, "band": i, "value": v} for i, v in enumerate(bands)],
        ["item_id", "band"],
    )
    session.flush()
    return row


def mark_item_failed(item_id: int, error: str, *, session: Session, max_attempts: int,
                     now: datetime | None = None) -> Item:
    """Count a failed attempt; after ``max_attempts`` the item is left ``failed``."""
    row = get_item(item_id, session=session)
    row.attempts += 1
    row.last_error = error
    if row.attempts >= max_attempts:
        row.status = ItemStatus.FAILED
        row.processed_at = now or utcnow()
    session.flush()
    return row


def mark_duplicate(item_id: int, original_id: int, *, session: Session,
                   now: datetime | None = None) -> Item:
    """Make an item an alias of an earlier one: its text is not kept twice."""
    row = get_item(item_id, session=session)
    row.status = ItemStatus.DUPLICATE
    row.duplicate_of_id = original_id
    row.text = None
    row.attempts += 1
    row.processed_at = now or utcnow()
    session.flush()
    return row


def find_by_content_hash(content_hash: str, *, session: Session, exclude_id: int) -> int | None:
    """The oldest processed item with exactly this text, if any."""
    return session.exec(
        select(Item.id).where(Item.content_hash == content_hash, Item.id != exclude_id,
                              Item.status == ItemStatus.DONE)
        .order_by(col(Item.id)).limit(1)
    ).first()


def near_duplicate_candidates(
    bands: Sequence[int], *, session: Session, exclude_id: int, since: datetime | None = None,
) -> list[tuple[int, bytes]]:
    """Processed items sharing at least one LSH band, with their signatures."""
    if not bands:
        return []
    match = or_(*[(col(ItemBand.band) == i) & (col(ItemBand.value) == v)
                  for i, v in enumerate(bands)])
    ids = select(ItemBand.item_id).where(match).distinct()
    query = select(Item.id, Item.minhash).where(
        col(Item.id).in_(ids), Item.id != exclude_id, Item.status == ItemStatus.DONE,
        col(Item.minhash).is_not(None),
    ).order_by(col(Item.id))
    if since is not None:
        query = query.where(col(Item.created_at) >= since)
    return [(i, m) for i, m in session.exec(query).all() if i is not None and m is not None]


def item_sources(item_id: int, *, session: Session) -> list[tuple[Source, ItemSource]]:
    """Where an item was found: its own links and those of its duplicates."""
    aliases = select(Item.id).where(Item.duplicate_of_id == item_id)
    query = (
        select(Source, ItemSource).join(ItemSource, col(ItemSource.source_id) == col(Source.id))
        .where(or_(ItemSource.item_id == item_id, col(ItemSource.item_id).in_(aliases)))
        .order_by(col(ItemSource.first_seen_at))
    )
    return [(s, link) for s, link in session.exec(query).all()]


def list_items(
    *, session: Session, since: datetime | None = None, source: str | None = None,
    language: str | None = None, search: str | None = None, status: str | None = None,
    include_duplicates: bool = False, limit: int = 50, offset: int = 0,
) -> list[Item]:
    """Items, newest first, filtered. ``search`` looks in title and text, case-insensitive."""
    query = select(Item)
    if since is not None:
        query = query.where(col(Item.created_at) >= since)
    if source is not None:
        query = query.where(col(Item.id).in_(
            select(ItemSource.item_id).join(Source, col(Source.id) == col(ItemSource.source_id))
            .where(Source.name == source)
        ))
    if language is not None:
        query = query.where(Item.language == language)
    if status is not None:
        query = query.where(Item.status == status)
    elif not include_duplicates:
        query = query.where(Item.status != ItemStatus.DUPLICATE)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(or_(func.lower(Item.title).like(pattern),
                                func.lower(Item.text).like(pattern)))
    query = query.order_by(col(Item.created_at).desc(), col(Item.id).desc())
    return list(session.exec(query.offset(offset).limit(limit)))
