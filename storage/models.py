"""The tables, with the Base / Create / table split of SQLModel.

Every datetime is timezone-aware UTC in Python, whatever the database keeps
(:class:`UTCDateTime` stores naive UTC in SQLite and ``timestamptz`` in PostgreSQL).
Unique constraints are named so that upserts can name their conflict target.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

__all__ = [
    "AlertCursor",
    "AlertEvent",
    "Classification",
    "Delivery",
    "DeliveryStatus",
    "FetchLog",
    "Item",
    "ItemBand",
    "ItemCreate",
    "ItemSource",
    "ItemStatus",
    "KnownCountry",
    "Label",
    "ModelState",
    "ModelVersion",
    "Source",
    "SourceBase",
    "SourceCreate",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A datetime column that only takes and gives timezone-aware UTC values."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware values only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _dt(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index)
    )


def _text() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))


class ItemStatus:
    """Values of ``Item.status``."""

    PENDING = "pending"  # stored from a source, article not yet processed
    DONE = "done"  # text extracted (from the page or the feed's content)
    DUPLICATE = "duplicate"  # same or nearly same text as ``duplicate_of_id``
    FAILED = "failed"  # gave up after ``schedule.max_item_attempts``

    ALL = (PENDING, DONE, DUPLICATE, FAILED)


# --------------------------------------------------------------------------- sources


class SourceBase(SQLModel):
    name: str = Field(max_length=80)
    url: str = Field(max_length=2048)
    kind: str = Field(default="feed", max_length=16)
    language: str | None = Field(default=None, max_length=8)
    interval: float | None = None
    enabled: bool = True
    note: str = Field(default="", max_length=1000)
    link_selector: str | None = Field(default=None, max_length=500)
    link_pattern: str | None = Field(default=None, max_length=500)


class SourceCreate(SourceBase):
    """What ``sources add`` and the config sync give to the repository."""

    origin: str = "config"


class Source(SourceBase, table=True):
    __tablename__ = "source"
    __table_args__ = (sa.UniqueConstraint("name", name="uq_source_name"),)

    id: int | None = Field(default=None, primary_key=True)
    origin: str = Field(default="config", max_length=16)  # config | cli | demo
    # conditional GET
    etag: str | None = Field(default=None, max_length=512)
    last_modified: str | None = Field(default=None, max_length=128)
    # health
    last_attempt_at: datetime | None = _dt()
    last_success_at: datetime | None = _dt()
    last_new_item_at: datetime | None = _dt()
    next_attempt_at: datetime | None = _dt(index=True)
    error_streak: int = 0
    last_error: str | None = _text()
    last_status: int | None = None
    disabled_reason: str | None = _text()
    removed_at: datetime | None = _dt()
    created_at: datetime | None = _dt()
    updated_at: datetime | None = _dt()


# --------------------------------------------------------------------------- items


class ItemCreate(SQLModel):
    """An item as a source found it, before its article is processed."""

    canonical_url: str = Field(max_length=2048)
    url: str = Field(max_length=2048)
    title: str = ""
    summary: str = ""
    feed_content: str = ""
    author: str = ""
    language_hint: str | None = None
    published_at: datetime | None = None


class Item(SQLModel, table=True):
    __tablename__ = "item"
    __table_args__ = (
        sa.UniqueConstraint("canonical_url", name="uq_item_canonical_url"),
        sa.Index("ix_item_status_created", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    canonical_url: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    url: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    title: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    summary: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    feed_content: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    text: str | None = _text()
    author: str = Field(default="", max_length=500)
    sitename: str = Field(default="", max_length=500)
    language: str | None = Field(default=None, max_length=8, index=True)
    language_hint: str | None = Field(default=None, max_length=8)
    published_at: datetime | None = _dt(index=True)
    created_at: datetime | None = _dt()
    processed_at: datetime | None = _dt()
    status: str = Field(default=ItemStatus.PENDING, max_length=16)
    method: str | None = Field(default=None, max_length=8)  # page | feed
    attempts: int = 0
    last_error: str | None = _text()
    content_hash: str | None = Field(default=None, max_length=64, index=True)
    minhash: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary()))
    duplicate_of_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("item.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )


class ItemSource(SQLModel, table=True):
    """An item as found in one source: one row per (source, guid)."""

    __tablename__ = "item_source"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "guid", name="uq_item_source_guid"),
        sa.Index("ix_item_source_item", "item_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("item.id", ondelete="CASCADE"), nullable=False
        )
    )
    source_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("source.id", ondelete="CASCADE"), nullable=False
        )
    )
    guid: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    first_seen_at: datetime | None = _dt()


class ItemBand(SQLModel, table=True):
    """Locality-sensitive hash bands of an item's text, to find near-duplicates fast."""

    __tablename__ = "item_band"
    __table_args__ = (sa.Index("ix_item_band_lookup", "band", "value"),)

    item_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("item.id", ondelete="CASCADE"), primary_key=True
        )
    )
    band: int = Field(sa_column=sa.Column(sa.SmallInteger(), primary_key=True))
    value: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))


class FetchLog(SQLModel, table=True):
    """One row per fetch of a source: what happened and what it cost."""

    __tablename__ = "fetch_log"
    __table_args__ = (sa.Index("ix_fetch_log_source_started", "source_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("source.id", ondelete="CASCADE"), nullable=False
        )
    )
    started_at: datetime | None = _dt(nullable=False)
    duration_ms: int = 0
    http_status: int | None = None
    outcome: str = Field(max_length=16)  # ok | not_modified | error
    bytes: int = 0
    new_items: int = 0
    error: str | None = _text()


# --------------------------------------------------------------------------- classification


class Classification(SQLModel, table=True):
    """The current model's tags for an item: one row per item, replaced on reclassify."""

    __tablename__ = "classification"
    __table_args__ = (sa.Index("ix_classification_relevant", "relevant", "classified_at"),)

    item_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("item.id", ondelete="CASCADE"), primary_key=True
        )
    )
    model_version: str = Field(max_length=64)
    relevant: bool = False
    relevance: float = 0.0
    countries: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(),
                                                                           nullable=False))
    domains: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(),
                                                                         nullable=False))
    scores: dict[str, float] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON(),
                                                                               nullable=False))
    evidence: dict[str, list[str]] = Field(default_factory=dict,
                                           sa_column=sa.Column(sa.JSON(), nullable=False))
    classified_at: datetime | None = _dt()


class Label(SQLModel, table=True):
    """A human label of an item. Relabeling adds a row and supersedes the old one."""

    __tablename__ = "label"
    __table_args__ = (sa.Index("ix_label_item_current", "item_id", "superseded_at"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("item.id", ondelete="CASCADE"), nullable=False
        )
    )
    annotator: str = Field(max_length=100)
    relevant: bool
    countries: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(),
                                                                           nullable=False))
    domains: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(),
                                                                         nullable=False))
    suggested_by: str | None = Field(default=None, max_length=64)  # model version shown
    changed: bool = False  # the annotator changed the model's suggestion
    created_at: datetime | None = _dt()
    superseded_at: datetime | None = _dt()


class ModelState:
    """Values of ``ModelVersion.state``."""

    CANDIDATE = "candidate"  # trained and saved, waiting for ``model promote``
    CURRENT = "current"  # the one that tags items (at most one)
    RETIRED = "retired"  # was current once; can be promoted again (a rollback)

    ALL = (CANDIDATE, CURRENT, RETIRED)


class ModelVersion(SQLModel, table=True):
    """A trained classifier: where it is saved, what it was trained on, how it scored.

    ``label_ids`` are the stored labels it was trained on (``item-<id>``), ``None``
    when unknown; ``figures`` what ``train`` measured when it was made (the held-out
    comparison with the model then current, or cross-validation).
    """

    __tablename__ = "model_version"
    __table_args__ = (
        sa.UniqueConstraint("version", name="uq_model_version_version"),
        sa.Index("ix_model_version_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=64)
    created_at: datetime | None = _dt(nullable=False)
    path: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    state: str = Field(default=ModelState.CANDIDATE, max_length=16)
    seeds: int = 0
    stored_labels: int = 0
    extra: int = 0
    label_ids: list[str] | None = Field(default=None,
                                        sa_column=sa.Column(sa.JSON(), nullable=True))
    figures: dict[str, Any] = Field(default_factory=dict,
                                    sa_column=sa.Column(sa.JSON(), nullable=False))
    note: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    promoted_at: datetime | None = _dt()
    retired_at: datetime | None = _dt()


# --------------------------------------------------------------------------- alerts and digests


class DeliveryStatus:
    """Values of ``Delivery.status``."""

    PENDING = "pending"  # to be sent, or waiting to be retried after a temporary failure
    SENT = "sent"
    REFUSED = "refused"  # a permanent failure (550, webhook 4xx): kept, shown, not retried
    SKIPPED = "skipped"  # a digest with nothing in it and ``when_empty = "skip"``

    ALL = (PENDING, SENT, REFUSED, SKIPPED)


class Delivery(SQLModel, table=True):
    """One message to one channel: recorded, with its rendered content, before it is sent.

    ``key`` makes it exactly once: ``alert:<rule>:<batch>:<channel>`` or
    ``digest:<name>:<local date>``. A sender claims a row (``claim_token`` and
    ``claimed_until``) so that two running instances never send it at once; a retry
    sends the same stored content with the same ``message_id``.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_delivery_key"),
        sa.Index("ix_delivery_status_next", "status", "next_attempt_at"),
        sa.Index("ix_delivery_purpose_name", "purpose", "name", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255)
    purpose: str = Field(max_length=16)  # alert | digest
    name: str = Field(max_length=100)  # the rule or digest
    channel: str = Field(default="", max_length=100)
    kind: str = Field(max_length=16)  # email | webhook
    recipients: list[str] = Field(default_factory=list,
                                  sa_column=sa.Column(sa.JSON(), nullable=False))
    item_ids: list[int] = Field(default_factory=list,
                                sa_column=sa.Column(sa.JSON(), nullable=False))
    subject: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    body_text: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    body_html: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict,
                                    sa_column=sa.Column(sa.JSON(), nullable=False))
    message_id: str = Field(default="", max_length=255)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    created_at: datetime | None = _dt()
    next_attempt_at: datetime | None = _dt()
    claimed_until: datetime | None = _dt()
    claim_token: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = _dt()
    last_error: str | None = _text()
    period: str | None = Field(default=None, max_length=32)  # a digest's local date
    period_start: datetime | None = _dt()
    period_end: datetime | None = _dt()


class AlertEvent(SQLModel, table=True):
    """That an item (or a source's state) triggered a rule: at most once per (rule, key)."""

    __tablename__ = "alert_event"
    __table_args__ = (
        sa.UniqueConstraint("rule", "key", name="uq_alert_event_rule_key"),
        sa.Index("ix_alert_event_item", "item_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=100)
    key: str = Field(max_length=255)  # item:<id>, country:<XX>, source-failing:<id>:<since>
    item_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer(), sa.ForeignKey("item.id", ondelete="SET NULL"),
                            nullable=True),
    )
    source_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer(), sa.ForeignKey("source.id", ondelete="SET NULL"),
                            nullable=True),
    )
    batch: str = Field(max_length=64)
    summary: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    created_at: datetime | None = _dt()


class AlertCursor(SQLModel, table=True):
    """How far a rule has looked: classifications newer than ``position`` are candidates."""

    __tablename__ = "alert_cursor"

    rule: str = Field(primary_key=True, max_length=100)
    position: datetime | None = _dt(nullable=False)


class KnownCountry(SQLModel, table=True):
    """Partner countries seen in relevant items, for the built-in new-country alert."""

    __tablename__ = "known_country"

    country: str = Field(primary_key=True, max_length=2)
    first_item_id: int | None = None
    first_seen_at: datetime | None = _dt()
