"""Queries for alerts and digests: candidates, events, cursors and the delivery outbox.

Keyword-only ``session=``, as everywhere in ``storage``. The outbox is what makes
delivery exactly once: a message is recorded with a unique ``key`` before it is
sent; a sender claims a row with a token and a lease, so two instances never send
it at once, and a retry after a crash sends the same stored content again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import (
    AlertCursor,
    AlertEvent,
    Classification,
    Delivery,
    DeliveryStatus,
    Item,
    ItemSource,
    ItemStatus,
    KnownCountry,
    Source,
    utcnow,
)

__all__ = [
    "DeliveryDraft",
    "EventDraft",
    "ItemSummary",
    "add_known_countries",
    "alerted_keys",
    "claim_due",
    "classified_since",
    "country_domain_counts",
    "delivery_by_key",
    "delivery_counts",
    "digest_items",
    "finish_delivery",
    "get_cursor",
    "get_delivery",
    "known_countries",
    "last_digest",
    "list_deliveries",
    "record_alert",
    "record_digest",
    "relevant_countries_before",
    "retry_delivery",
]


@dataclass(frozen=True, slots=True)
class ItemSummary:
    """What an alert or a digest says of one item."""

    id: int
    title: str
    url: str
    text: str
    summary: str
    language: str | None
    published_at: datetime | None
    created_at: datetime | None
    relevant: bool
    relevance: float
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    classified_at: datetime | None
    #: Names of the sources it was found in.
    sources: tuple[str, ...] = ()
    #: Names of the sources of its near-duplicates (shown once, with these named).
    also_sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventDraft:
    key: str
    item_id: int | None = None
    source_id: int | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryDraft:
    """A rendered message for one channel, to be recorded before it is sent."""

    key: str
    purpose: str
    name: str
    channel: str
    kind: str
    recipients: Sequence[str]
    item_ids: Sequence[int]
    subject: str
    body_text: str
    body_html: str
    message_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    period: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    status: str = DeliveryStatus.PENDING


# --------------------------------------------------------------------------- items


def _summaries(session: Session, query: Any) -> list[ItemSummary]:
    rows = session.exec(query).all()
    ids = [item.id for item, _ in rows if item.id is not None]
    own, also = _source_names(session, ids)
    out = []
    for item, tags in rows:
        assert item.id is not None
        out.append(ItemSummary(
            id=item.id, title=item.title, url=item.url, text=item.text or "",
            summary=item.summary, language=item.language, published_at=item.published_at,
            created_at=item.created_at, relevant=tags.relevant, relevance=tags.relevance,
            countries=tuple(tags.countries), domains=tuple(tags.domains),
            classified_at=tags.classified_at, sources=tuple(own.get(item.id, ())),
            also_sources=tuple(n for n in also.get(item.id, ()) if n not in own.get(item.id, ())),
        ))
    return out


def _source_names(session: Session, ids: Sequence[int]
                  ) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Per item: its sources' names, and those of the items stored as its duplicates."""
    own: dict[int, list[str]] = {}
    also: dict[int, list[str]] = {}
    for chunk in _chunks(ids, 500):
        query = (select(ItemSource.item_id, Source.name)
                 .join(Source, col(Source.id) == col(ItemSource.source_id))
                 .where(col(ItemSource.item_id).in_(chunk))
                 .order_by(col(ItemSource.first_seen_at)))
        for item_id, name in session.exec(query).all():
            if name not in own.setdefault(item_id, []):
                own[item_id].append(name)
        dupes = (select(Item.duplicate_of_id, Source.name)
                 .join(ItemSource, col(ItemSource.item_id) == col(Item.id))
                 .join(Source, col(Source.id) == col(ItemSource.source_id))
                 .where(col(Item.duplicate_of_id).in_(chunk))
                 .order_by(col(ItemSource.first_seen_at)))
        for original, name in session.exec(dupes).all():
            if original is not None and name not in also.setdefault(original, []):
                also[original].append(name)
    return own, also


def _chunks(values: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def _tagged() -> Any:
    return (select(Item, Classification)
            .join(Classification, col(Classification.item_id) == col(Item.id))
            .where(Item.status == ItemStatus.DONE))


def classified_since(position: datetime, *, session: Session,
                     limit: int = 5000) -> list[ItemSummary]:
    """Stored items (not duplicates) tagged at or after ``position``, oldest tag first."""
    query = (_tagged().where(col(Classification.classified_at) >= position)
             .order_by(col(Classification.classified_at), col(Item.id)).limit(limit))
    return _summaries(session, query)


def digest_items(start: datetime, end: datetime, *, session: Session) -> list[ItemSummary]:
    """Relevant items stored in ``(start, end]``, oldest first."""
    query = (_tagged().where(col(Classification.relevant).is_(True))
             .where(col(Item.created_at) > start).where(col(Item.created_at) <= end)
             .order_by(col(Item.created_at), col(Item.id)))
    return _summaries(session, query)


def country_domain_counts(start: datetime, end: datetime, *, session: Session
                          ) -> tuple[Counter[str], Counter[str]]:
    """How many relevant items stored in ``(start, end]`` name each country and domain."""
    query = (select(Classification.countries, Classification.domains)
             .join(Item, col(Item.id) == col(Classification.item_id))
             .where(Item.status == ItemStatus.DONE)
             .where(col(Classification.relevant).is_(True))
             .where(col(Item.created_at) > start).where(col(Item.created_at) <= end))
    countries: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    for c, d in session.exec(query).all():
        countries.update(set(c))
        domains.update(set(d))
    return countries, domains


# --------------------------------------------------------------------------- alert state


def get_cursor(rule: str, *, session: Session) -> datetime | None:
    row = session.get(AlertCursor, rule)
    return row.position if row is not None else None


def alerted_keys(rule: str, keys: Iterable[str], *, session: Session) -> set[str]:
    """Which of ``keys`` have already triggered ``rule``."""
    found: set[str] = set()
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        query = select(AlertEvent.key).where(AlertEvent.rule == rule).where(
            col(AlertEvent.key).in_(chunk))
        found.update(session.exec(query).all())
    return found


def known_countries(*, session: Session) -> set[str]:
    return set(session.exec(select(KnownCountry.country)).all())


def relevant_countries_before(position: datetime, *, session: Session) -> set[str]:
    """Countries named by relevant items tagged before ``position``."""
    query = (select(Classification.countries)
             .where(col(Classification.relevant).is_(True))
             .where(col(Classification.classified_at) < position))
    seen: set[str] = set()
    for countries in session.exec(query).all():
        seen.update(countries)
    return seen


def add_known_countries(first: dict[str, int | None], *, session: Session,
                        now: datetime | None = None) -> None:
    """Record countries as seen (``country -> first item id``)."""
    now = now or utcnow()
    for country, item_id in first.items():
        session.add(KnownCountry(country=country, first_item_id=item_id, first_seen_at=now))
    session.flush()


def record_alert(rule: str, batch: str, events: Sequence[EventDraft],
                 deliveries: Sequence[DeliveryDraft], *, session: Session,
                 cursor: datetime | None = None, now: datetime | None = None) -> None:
    """Record that ``events`` triggered ``rule`` and the messages that say so, in the
    caller's transaction. A second instance doing the same fails on the unique keys
    (``IntegrityError``) and must roll back: nothing is recorded twice."""
    now = now or utcnow()
    for event in events:
        session.add(AlertEvent(rule=rule, key=event.key, item_id=event.item_id,
                               source_id=event.source_id, batch=batch, summary=event.summary,
                               created_at=now))
    for draft in deliveries:
        _add_delivery(draft, session=session, now=now)
    if cursor is not None:
        row = session.get(AlertCursor, rule)
        if row is None:
            session.add(AlertCursor(rule=rule, position=cursor))
        elif row.position is None or cursor > row.position:
            row.position = cursor
            session.add(row)
    session.flush()


def _add_delivery(draft: DeliveryDraft, *, session: Session, now: datetime) -> Delivery:
    row = Delivery(
        key=draft.key, purpose=draft.purpose, name=draft.name, channel=draft.channel,
        kind=draft.kind, recipients=list(draft.recipients), item_ids=list(draft.item_ids),
        subject=draft.subject, body_text=draft.body_text, body_html=draft.body_html,
        payload=dict(draft.payload), message_id=draft.message_id, status=draft.status,
        created_at=now, next_attempt_at=now, period=draft.period,
        period_start=draft.period_start, period_end=draft.period_end,
        sent_at=None,
    )
    session.add(row)
    return row


# --------------------------------------------------------------------------- digests


def last_digest(name: str, *, session: Session) -> Delivery | None:
    """The latest digest of ``name`` that was not refused (sent, pending or skipped)."""
    query = (select(Delivery).where(Delivery.purpose == "digest").where(Delivery.name == name)
             .where(Delivery.status != DeliveryStatus.REFUSED)
             .order_by(col(Delivery.period_end).desc(), col(Delivery.id).desc()).limit(1))
    return session.exec(query).first()


def record_digest(draft: DeliveryDraft, *, session: Session,
                  now: datetime | None = None) -> Delivery:
    """Record a digest before it is sent; ``IntegrityError`` if its key exists."""
    row = _add_delivery(draft, session=session, now=now or utcnow())
    session.flush()
    return row


# --------------------------------------------------------------------------- the outbox


def claim_due(now: datetime, *, session: Session, token: str, lease: timedelta,
              limit: int = 50, skip: Sequence[int] = ()) -> list[Delivery]:
    """Claim pending deliveries that are due and not claimed by a live sender.

    Each row is claimed by a conditional UPDATE, so of two instances only one gets it.
    Commit right after, so that the claim is visible before sending.
    """
    query = (select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING)
             .where(sa.or_(col(Delivery.next_attempt_at).is_(None),
                           col(Delivery.next_attempt_at) <= now))
             .where(sa.or_(col(Delivery.claimed_until).is_(None),
                           col(Delivery.claimed_until) < now))
             .order_by(col(Delivery.id)).limit(limit))
    if skip:  # attempted in this run already (a retry waits for the next run)
        query = query.where(col(Delivery.id).not_in(list(skip)))
    claimed = []
    for delivery_id in list(session.exec(query).all()):
        result = session.execute(
            sa.update(Delivery).where(col(Delivery.id) == delivery_id)
            .where(col(Delivery.status) == DeliveryStatus.PENDING)
            .where(sa.or_(col(Delivery.claimed_until).is_(None),
                          col(Delivery.claimed_until) < now))
            .values(claim_token=token, claimed_until=now + lease)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(delivery_id)
    session.flush()
    session.expire_all()
    return [row for i in claimed if (row := session.get(Delivery, i)) is not None]


def finish_delivery(delivery_id: int, token: str, *, session: Session, status: str,
                    error: str | None = None, next_attempt_at: datetime | None = None,
                    now: datetime | None = None) -> bool:
    """Record the outcome of an attempt by the holder of the claim; False if the claim
    was lost (another sender took the row after the lease ran out)."""
    now = now or utcnow()
    values: dict[str, Any] = {"status": status, "claim_token": None, "claimed_until": None,
                              "attempts": col(Delivery.attempts) + 1, "last_error": error}
    if status == DeliveryStatus.SENT:
        values["sent_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    result = session.execute(
        sa.update(Delivery).where(col(Delivery.id) == delivery_id)
        .where(col(Delivery.claim_token) == token).values(**values)
    )
    return getattr(result, "rowcount", 0) == 1


def retry_delivery(delivery_id: int, *, session: Session, now: datetime | None = None) -> Delivery:
    """Put a refused or waiting delivery back in the queue, due now."""
    row = get_delivery(delivery_id, session=session)
    if row.status == DeliveryStatus.SENT:
        return row
    row.status = DeliveryStatus.PENDING
    row.next_attempt_at = now or utcnow()
    row.claimed_until = None
    row.claim_token = None
    session.add(row)
    session.flush()
    return row


def delivery_by_key(key: str, *, session: Session) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.key == key)).first()


def get_delivery(delivery_id: int, *, session: Session) -> Delivery:
    row = session.get(Delivery, delivery_id)
    if row is None:
        raise NotFoundError(f"no delivery with id {delivery_id}")
    return row


def list_deliveries(*, session: Session, purpose: str | None = None,
                    status: str | None = None, name: str | None = None,
                    limit: int = 50) -> list[Delivery]:
    """Deliveries, newest first."""
    query = select(Delivery)
    if purpose is not None:
        query = query.where(Delivery.purpose == purpose)
    if status is not None:
        query = query.where(Delivery.status == status)
    if name is not None:
        query = query.where(Delivery.name == name)
    query = query.order_by(col(Delivery.created_at).desc(), col(Delivery.id).desc()).limit(limit)
    return list(session.exec(query).all())


def delivery_counts(*, session: Session) -> dict[str, int]:
    """Deliveries per status."""
    query = select(Delivery.status, sa.func.count()).group_by(col(Delivery.status))
    return {status: int(n) for status, n in session.exec(query).all()}
