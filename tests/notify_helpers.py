"""Stored, tagged items and settings for the alert and digest tests.

Items are written through ``storage`` as the pipeline would leave them (a source, an
item in state ``done`` with its text, its link to the source, and the model's tags),
so that alerts and digests are tested on real rows without training a model.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from monitor.config import (
    AlertRule,
    AlertSettings,
    ChannelSettings,
    DigestSettings,
    MailSettings,
    Settings,
)
from monitor.pipeline import Pipeline
from storage.classifications import ClassificationRecord, save_classifications
from storage.db import session_scope
from storage.models import Item, ItemSource, ItemStatus, Source
from tests.pipeline_helpers import make_settings

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
_ids = itertools.count(1)


def notify_settings(tmp_path: Path, *, database_url: str = "", smtp_port: int = 0,
                    rules: Sequence[AlertRule] = (), channels: Sequence[ChannelSettings] = (),
                    digests: Sequence[DigestSettings] = (), **alerts: object) -> Settings:
    base = make_settings(tmp_path, [], database_url=database_url)
    options: dict[str, object] = {"new_country": False, "source_failing_after": 0.0,
                                  "source_silent_after": 0.0, **alerts}
    return dataclasses.replace(
        base,
        mail=MailSettings(host="127.0.0.1", port=smtp_port or 1, security="none", timeout=5.0,
                          sender="monitor@example.org"),
        channels=tuple(channels),
        alerts=dataclasses.replace(AlertSettings(rules=tuple(rules)), **options),  # type: ignore[arg-type]
        digests=tuple(digests),
    )


def add_source(engine: Engine, name: str, **fields: object) -> int:
    with session_scope(engine) as session:
        row = Source(name=name, url=f"https://{name}.example.org/feed", created_at=T0,
                     **fields)  # type: ignore[arg-type]
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def add_item(engine: Engine, source_id: int, title: str, *, text: str = "",
             countries: Sequence[str] = (), domains: Sequence[str] = (),
             relevant: bool = True, relevance: float = 0.9, language: str = "en",
             created_at: datetime = T0, classified_at: datetime | None = None,
             url: str | None = None, duplicate_of: int | None = None,
             published_at: datetime | None = None) -> int:
    """A processed item found in ``source_id``, tagged (unless it is a duplicate)."""
    n = next(_ids)
    url = url or f"https://news.example.org/{n}"
    text = text or (f"{title}. The delegation discussed cooperation in health care. "
                    "Both sides agreed to continue the work next year. A third sentence "
                    "follows here. And a fourth one that the lead leaves out.")
    with session_scope(engine) as session:
        item = Item(canonical_url=f"{url}#{n}", url=url, title=title, text=text,
                    language=language, created_at=created_at, processed_at=created_at,
                    published_at=published_at or created_at,
                    status=ItemStatus.DUPLICATE if duplicate_of else ItemStatus.DONE,
                    method="page", duplicate_of_id=duplicate_of)
        session.add(item)
        session.flush()
        assert item.id is not None
        session.add(ItemSource(item_id=item.id, source_id=source_id, guid=f"g{n}",
                               first_seen_at=created_at))
        if duplicate_of is None:
            save_classifications([ClassificationRecord(
                item_id=item.id, model_version="test", relevant=relevant,
                relevance=relevance, countries=list(countries), domains=list(domains),
                scores={}, evidence={},
            )], session=session, now=classified_at or created_at)
        return item.id


def retag(engine: Engine, item_id: int, *, at: datetime, countries: Sequence[str] = (),
          domains: Sequence[str] = (), relevant: bool = True) -> None:
    """What ``reclassify`` does to an item: new tags, a new ``classified_at``."""
    with session_scope(engine) as session:
        save_classifications([ClassificationRecord(
            item_id=item_id, model_version="test-2", relevant=relevant, relevance=0.9,
            countries=list(countries), domains=list(domains), scores={}, evidence={},
        )], session=session, now=at)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def as_two_instances(make: Callable[[], Pipeline], work: Callable[[Pipeline], object]) -> None:
    """Two pipelines on one database (two running instances), doing ``work`` at once."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def instance() -> None:
        try:
            with make() as pipeline:
                barrier.wait()
                work(pipeline)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
