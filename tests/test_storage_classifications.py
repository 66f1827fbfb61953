"""Classification and label queries, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from storage import classifications as cls
from storage import repository as repo
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import ItemCreate, SourceCreate


def _items(engine: Engine, n: int) -> list[int]:
    with session_scope(engine) as session:
        (src,) = repo.sync_sources([SourceCreate(name="s", url="https://s.example/")],
                                   session=session)
        assert src.id is not None
        ids, _ = repo.insert_items(src.id, [
            (f"g{i}", ItemCreate(canonical_url=f"https://s.example/{i}",
                                 url=f"https://s.example/{i}", title=f"T{i}"))
            for i in range(n)
        ], session=session)
        for n, i in enumerate(ids):
            repo.store_article(i, session=session, text=f"text {n}", method="page",
                               content_hash=f"h{n}", minhash=b"", bands=[], language="en")
        return ids


def _record(item_id: int, version: str, relevant: bool = True) -> cls.ClassificationRecord:
    return cls.ClassificationRecord(
        item_id=item_id, model_version=version, relevant=relevant, relevance=0.9,
        countries=["CN"] if relevant else [], domains=["cardiology"] if relevant else [],
        scores={"cardiology": 0.8}, evidence={"CN": ["China"]})


def test_queue_holds_unclassified_items_until_tagged(engine: Engine) -> None:
    ids = _items(engine, 3)
    with session_scope(engine) as session:
        queue = cls.items_to_classify(session=session)
        assert [q[0] for q in queue] == ids
        assert queue[0][1:] == ("T0", "text 0", "en")
        cls.save_classifications([_record(ids[0], "v1"), _record(ids[1], "v1", False)],
                                 session=session)
    with session_scope(engine) as session:
        assert [q[0] for q in cls.items_to_classify(session=session)] == [ids[2]]
        # reclassification with a new model takes every item tagged by another one
        assert len(cls.items_to_classify(session=session, model_version="v2")) == 3
        assert cls.classification_counts(session=session) == {
            "classified": 2, "relevant": 1, "unclassified": 1}
        row = cls.get_classification(ids[0], session=session)
        assert row.countries == ["CN"] and row.scores == {"cardiology": 0.8}
        assert row.classified_at is not None and row.classified_at.tzinfo is not None


def test_saving_again_replaces_not_duplicates(engine: Engine) -> None:
    (item,) = _items(engine, 1)
    with session_scope(engine) as session:
        cls.save_classifications([_record(item, "v1")], session=session)
    with session_scope(engine) as session:
        cls.save_classifications([_record(item, "v2", relevant=False)], session=session)
    with session_scope(engine) as session:
        row = cls.get_classification(item, session=session)
        assert (row.model_version, row.relevant, row.countries) == ("v2", False, [])
        assert cls.classification_counts(session=session)["classified"] == 1
        with pytest.raises(NotFoundError):
            cls.get_classification(item + 100, session=session)


def test_relabeling_keeps_history_and_training_sees_the_current_label(engine: Engine) -> None:
    (item,) = _items(engine, 1)
    with session_scope(engine) as session:
        cls.add_label(item, session=session, annotator="ana", relevant=True,
                      countries=["TR", "CN", "TR"], domains=["research"], suggested_by="v1")
        cls.add_label(item, session=session, annotator="ana", relevant=False,
                      countries=["TR"], changed=True)
        cls.add_label(item, session=session, annotator="bob", relevant=True, countries=["TR"])
    with session_scope(engine) as session:
        rows = cls.current_labels(session=session)
        assert [(r.annotator, r.relevant, r.countries) for r in rows] == [
            ("ana", False, ()), ("bob", True, ("TR",))]
        assert rows[0].text == "text 0"
        with pytest.raises(NotFoundError):
            cls.add_label(item + 100, session=session, annotator="x", relevant=False)
