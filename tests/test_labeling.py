"""Labeling: the queue, labels with history and undo, files in and out, agreement, and
the terminal labeler driven through a pseudo-terminal."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pexpect
import pytest
from sqlmodel import select

from monitor.errors import LabelingError
from monitor.labeling import LabeledContext, agreement, order_queue
from monitor.pipeline import Pipeline
from monitor.pipeline.labels import QueueFilter
from storage.db import session_scope
from storage.labeling import LabelCandidate, label_history
from storage.models import ItemBand, Label
from tests.cli_helpers import ROOT, monitor_env, run_monitor, write_config
from tests.notify_helpers import T0, add_item, add_source, notify_settings


def _cand(item_id: int, relevance: float, *, source: str = "azertac", language: str = "en",
          scores: dict[str, float] | None = None) -> LabelCandidate:
    return LabelCandidate(item_id=item_id, title=f"item {item_id}", language=language,
                          created_at=T0, relevant=relevance >= 0.5, relevance=relevance,
                          countries=(), domains=(), scores=scores or {}, model_version="m1",
                          sources=(source,))


def test_queue_uncertain_first_diverse_mixed_in_and_one_per_cluster() -> None:
    known = LabeledContext(sources=frozenset({"azertac"}), languages=frozenset({"en"}))
    candidates = [
        _cand(1, 0.97), _cand(2, 0.52), _cand(3, 0.45), _cand(4, 0.60), _cand(5, 0.05),
        _cand(6, 0.51),  # a near-duplicate of 2: only the more uncertain one is offered
        _cand(7, 0.99, source="trend", language="ru"),  # certain, but new source+language
        _cand(8, 0.90, scores={"cardiology": 0.5}),  # sure of relevance, unsure of a label
    ]
    order = order_queue(candidates, clusters={6: 2, 2: 2}, context=known, limit=8)
    ids = [e.candidate.item_id for e in order]
    assert ids[:3] == [6, 3, 4]  # the relevance nearest the threshold first
    assert ids[3] == 7  # every fourth place: the most diverse
    assert "new source: trend" in order[3].reasons and "new language: ru" in order[3].reasons
    assert 2 not in ids and len(ids) == 7  # 6 stands for its cluster
    assert ids.index(8) < ids.index(1)  # an uncertain label counts too
    assert any("uncertain domain cardiology" in r for r in order[ids.index(8)].reasons)


def test_agreement_between_annotators() -> None:
    rows = [
        [{"annotator": "ann", "relevant": True, "countries": ["TR"], "domains": ["oncology"]},
         {"annotator": "bob", "relevant": True, "countries": ["TR", "DE"],
          "domains": ["oncology"]}],
        [{"annotator": "ann", "relevant": False, "countries": [], "domains": []},
         {"annotator": "bob", "relevant": True, "countries": ["CN"], "domains": ["research"]}],
    ]
    [a] = agreement(rows)
    assert (a.first, a.second, a.items) == ("ann", "bob", 2)
    assert a.relevance == 0.5 and a.countries == pytest.approx(0.25)
    assert a.domains == pytest.approx(0.5) and a.kappa == pytest.approx(0.0)


@pytest.fixture
def pipeline(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Pipeline(notify_settings(tmp_path), workers=1) as p:
        p.prepare()
        yield p


def test_labels_record_suggestion_change_history_and_undo(pipeline: Pipeline) -> None:
    src = add_source(pipeline.engine, "azertac")
    item = add_item(pipeline.engine, src, "Turkish cardiologists", countries=["TR"],
                    domains=["cardiology"])
    first = pipeline.save_label(item, annotator="ann", relevant=True, countries=["TR"],
                                domains=["cardiology"], suggested_by="test")
    second = pipeline.save_label(item, annotator="ann", relevant=True, countries=["TR"],
                                 domains=["cardiology", "research"], suggested_by="test")
    with session_scope(pipeline.engine) as session:
        history = label_history(item, session=session)
    assert [(h.id, h.changed, h.superseded_at is None) for h in history] == [
        (first, False, False), (second, True, True)]
    assert history[0].suggested_by == "test" and history[1].annotator == "ann"
    assert pipeline.undo_last_label(annotator="ann") == item
    view = pipeline.label_view(item)
    assert [(r.id, r.current) for r in view.history] == [(first, True)]
    assert view.suggestion is not None and view.suggestion.countries == ("TR",)
    assert pipeline.undo_last_label(annotator="nobody") is None

    with pytest.raises(LabelingError, match="unknown domain"):
        pipeline.save_label(item, annotator="ann", relevant=True, domains=["heart"])
    with pytest.raises(LabelingError, match="home country"):
        pipeline.save_label(item, annotator="ann", relevant=True, countries=["AZ"])
    with pytest.raises(LabelingError, match="no item with id 999"):
        pipeline.save_label(999, annotator="ann", relevant=False)


def test_queue_from_the_database_skips_labeled_items_and_their_near_duplicates(
        pipeline: Pipeline) -> None:
    azertac = add_source(pipeline.engine, "azertac")
    trend = add_source(pipeline.engine, "trend")
    a = add_item(pipeline.engine, azertac, "A", countries=["TR"], domains=["cardiology"],
                 relevance=0.55)
    b = add_item(pipeline.engine, azertac, "B, a near-copy of A", relevance=0.5)
    c = add_item(pipeline.engine, trend, "C in Russian", language="ru", countries=["DE"],
                 domains=["oncology"], relevance=0.8)
    d = add_item(pipeline.engine, azertac, "D", relevance=0.1, created_at=T0 - timedelta(days=3))
    with session_scope(pipeline.engine) as session:
        for item in (a, b):
            session.add(ItemBand(item_id=item, band=3, value=12345))
    ids = [e.candidate.item_id for e in pipeline.label_queue()]
    assert b in ids and a not in ids  # one of the cluster: the more uncertain
    assert set(ids) == {b, c, d}
    pipeline.save_label(b, annotator="ann", relevant=False)
    assert [e.candidate.item_id for e in pipeline.label_queue()] == [c, d] or (
        set(e.candidate.item_id for e in pipeline.label_queue()) == {c, d})
    assert [e.candidate.item_id for e in pipeline.label_queue(
        filters=QueueFilter(language="ru"))] == [c]
    assert [e.candidate.item_id for e in pipeline.label_queue(
        filters=QueueFilter(source="trend", country="DE", domain="oncology"))] == [c]
    assert [e.candidate.item_id for e in pipeline.label_queue(
        filters=QueueFilter(since=T0 - timedelta(days=1)))] == [c]


def test_export_then_import_round_trips_and_a_bad_file_stores_nothing(
        pipeline: Pipeline, tmp_path: Path) -> None:
    src = add_source(pipeline.engine, "azertac")
    one = add_item(pipeline.engine, src, "Turkish cardiologists", countries=["TR"],
                   url="https://news.example.org/tr-cardio")
    two = add_item(pipeline.engine, src, "Football", relevant=False)
    pipeline.save_label(one, annotator="ann", relevant=True, countries=["TR"],
                        domains=["cardiology"])
    pipeline.save_label(two, annotator="ann", relevant=False)
    out = tmp_path / "labels.jsonl"
    with out.open("w", encoding="utf-8") as f:
        assert pipeline.export_labels(f) == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert list(lines[0]) == ["id", "url", "language", "title", "text", "relevant",
                              "countries", "domains"]
    assert lines[0]["countries"] == ["TR"] and lines[1]["relevant"] is False

    other = tmp_path / "other"
    other.mkdir()
    with Pipeline(notify_settings(other), workers=1) as p2:
        p2.prepare()
        assert p2.import_labels(out, annotator="ann") == (2, 2)  # two new items
        assert p2.import_labels(out, annotator="bob") == (2, 0)  # matched by URL now
        agreement_rows = p2.label_agreement()
        assert agreement_rows[0].relevance == 1.0 and agreement_rows[0].items == 2
        bad = tmp_path / "bad.jsonl"
        bad.write_text(out.read_text().splitlines()[0] + "\n"
                       + '{"id": "x", "text": "t", "relevant": true, "domains": ["heart"]}\n'
                       + "not json\n", encoding="utf-8")
        with pytest.raises(LabelingError) as info:
            p2.import_labels(bad, annotator="carol")
        assert "line 2: unknown domain id 'heart'" in str(info.value)
        assert "line 3: not valid JSON" in str(info.value)
        with session_scope(p2.engine) as session:
            assert session.exec(select(Label).where(Label.annotator == "carol")).all() == []


def _seed_cli(tmp_path: Path) -> Path:
    config = write_config(tmp_path / "monitor.toml", data_dir=tmp_path, sources=[])
    with Pipeline(notify_settings(tmp_path), workers=1) as p:
        p.prepare()
        src = add_source(p.engine, "azertac")
        add_item(p.engine, src, "Turkish cardiologists visit Baku", countries=["TR"],
                 domains=["cardiology"], relevance=0.52)  # the most uncertain: first
        add_item(p.engine, src, "Football results in Ganja", relevance=0.40)
    return config


def test_terminal_labeler_through_a_pseudo_terminal(tmp_path: Path) -> None:
    config = _seed_cli(tmp_path)
    child = pexpect.spawn(sys.executable, ["-m", "monitor", "-c", str(config), "label",
                                           "--annotator", "ann"],
                          cwd=str(ROOT), env=monitor_env(), encoding="utf-8", timeout=60,
                          dimensions=(50, 160))
    try:
        child.expect("Turkish cardiologists visit Baku")
        child.expect("toggle a domain")
        child.send("a")  # accept the suggestion as is
        child.expect("Football results in Ganja")
        child.expect("toggle a domain")
        child.send("u")  # undo: back to the first item
        child.expect("Turkish cardiologists visit Baku")
        child.expect("toggle a domain")
        child.send("8")  # toggle the 8th domain (research) on
        child.send("s")  # save as marked
        child.expect("Football results in Ganja")
        child.expect("toggle a domain")
        child.send("r")  # not relevant
        child.expect(r"2 label\(s\) stored by ann")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    exported = run_monitor("-c", str(config), "labels", "export").stdout.splitlines()
    labels = {x["title"]: x for x in map(json.loads, exported)}
    assert labels["Turkish cardiologists visit Baku"]["domains"] == ["cardiology", "research"]
    assert labels["Turkish cardiologists visit Baku"]["countries"] == ["TR"]
    assert labels["Football results in Ganja"]["relevant"] is False


def test_labels_commands(tmp_path: Path) -> None:
    config = _seed_cli(tmp_path)
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a1", "url": "https://x.example.org/a1",
                                "language": "en", "title": "Joint research centre",
                                "text": "A joint research centre opens.", "relevant": True,
                                "countries": ["CN"], "domains": ["research"]}) + "\n")
    out = run_monitor("-c", str(config), "labels", "import", str(good)).stdout
    assert "1 labels stored as 'import:good' (1 new items" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "b", "text": "x", "relevant": "yes"}\n')
    proc = run_monitor("-c", str(config), "labels", "import", str(bad), check=False)
    assert proc.returncode == 1 and "line 1: 'relevant' must be true or false" in proc.stderr
    target = tmp_path / "out.jsonl"
    run_monitor("-c", str(config), "labels", "export", "--output", str(target))
    assert json.loads(target.read_text())["countries"] == ["CN"]
    assert "no item has labels from two" in run_monitor(
        "-c", str(config), "labels", "agreement").stdout
    run_monitor("-c", str(config), "labels", "import", str(good), "--annotator", "bob")
    table = run_monitor("-c", str(config), "labels", "agreement").stdout
    assert "bob / import:good" in table and "100%" in table
