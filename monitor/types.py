"""Frozen values passed between the stages of the pipeline.

Stages never pass database rows to each other: the pipeline reads rows through
``storage`` and hands these plain values to the stage functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from monitor.errors import MonitorError

__all__ = [
    "AlertOutcome",
    "Article",
    "DeliveryOutcome",
    "DigestOutcome",
    "Entry",
    "FetchResult",
    "ItemResult",
    "ParsedSource",
    "RunReport",
    "SourceKind",
    "SourceOutcome",
    "SourceResult",
    "SourceSpec",
    "Validators",
]

SourceKind = Literal["feed", "page", "sitemap"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("feed", "page", "sitemap")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source as the configuration declares it.

    ``interval`` is seconds between polls; ``link_selector`` (CSS) and
    ``link_pattern`` (regular expression on the absolute URL) pick article links
    out of a ``page`` source.
    """

    name: str
    url: str
    kind: SourceKind = "feed"
    interval: float | None = None
    language: str | None = None
    enabled: bool = True
    note: str = ""
    link_selector: str | None = None
    link_pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Validators:
    """What a conditional GET sends back: the stored ETag and Last-Modified."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One completed HTTP exchange (after redirects).

    ``headers`` has lower-case names. ``permanent_redirect`` is the final URL when
    every hop of the redirect chain was permanent (301 or 308), else ``None``.
    """

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed: float
    permanent_redirect: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("etag"), self.headers.get("last-modified"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One item found in a source: a feed entry, a link on a page, a sitemap URL.

    ``content`` is the feed's own text for the item (HTML or plain), the fallback
    when the article page cannot be fetched or extracted.
    """

    url: str
    guid: str | None = None
    title: str = ""
    summary: str = ""
    content: str = ""
    published: datetime | None = None
    author: str = ""
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedSource:
    """What a source parser found: entries, and warnings for what it had to skip."""

    entries: tuple[Entry, ...]
    warnings: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True, slots=True)
class Article:
    """The main text and metadata of one item.

    ``method`` says where the text came from: the article ``page`` or, as a
    fallback, the ``feed`` entry itself.
    """

    url: str
    text: str
    title: str = ""
    author: str = ""
    sitename: str = ""
    published: datetime | None = None
    language: str | None = None
    method: Literal["page", "feed"] = "page"


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """The value of one successful source fetch."""

    source_id: int
    source_name: str
    http_status: int
    new_items: int = 0
    seen_items: int = 0
    bytes: int = 0
    duration: float = 0.0
    warnings: tuple[str, ...] = ()
    item_ids: tuple[int, ...] = ()
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class SourceResult:
    """One result per source in a batch: a value or an error, never both."""

    source_id: int
    source_name: str
    value: SourceOutcome | None = None
    error: MonitorError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What processing one item did: ``status`` is ``done``, ``duplicate`` or ``failed``."""

    item_id: int
    status: Literal["done", "duplicate", "failed", "dropped"]
    method: Literal["page", "feed"] | None = None
    language: str | None = None
    duplicate_of: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    """The outcome of one pass: a result per source and per item processed."""

    sources: tuple[SourceResult, ...] = ()
    items: tuple[ItemResult, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """One rule's run: how many items (or sources) it matched for the first time and
    how many messages were recorded for delivery."""

    rule: str
    matched: int = 0
    deliveries: int = 0
    titles: tuple[str, ...] = ()
    error: MonitorError | None = None


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """One digest definition: what happened for its due day.

    ``state``: ``recorded`` (new, queued for sending), ``skipped`` (nothing in it and
    ``when_empty = "skip"``), ``exists`` (already recorded for that day, by this or
    another instance), ``preview`` (a dry run: nothing recorded).
    """

    name: str
    day: date
    state: Literal["recorded", "skipped", "exists", "preview"]
    items: int = 0
    delivery_id: int | None = None
    subject: str = ""
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """One attempt at sending a recorded message.

    ``state``: ``sent``, ``retry`` (a temporary failure; ``next_attempt_at`` says when),
    ``refused`` (a permanent failure: kept and shown, not retried), ``lost-claim``
    (another sender took the row meanwhile; it sent or will send it).
    """

    delivery_id: int
    purpose: str
    name: str
    channel: str
    state: Literal["sent", "retry", "refused", "lost-claim"]
    detail: str = ""
    next_attempt_at: datetime | None = None
