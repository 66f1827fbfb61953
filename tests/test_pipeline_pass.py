"""A pass starts its extraction processes and its model only when there is work, and
tags stored items batch by batch while the others are still processed."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
from pathlib import Path

import pytest

from classifiers.persistence import SIDECAR, WEIGHTS
from monitor.pipeline import Pipeline
from monitor.types import ItemResult, SourceSpec
from storage import classifications as tags
from storage.db import session_scope
from tests.loopback import LoopbackServer
from tests.pipeline_helpers import make_settings, serve_feed


def test_a_pass_with_nothing_new_starts_no_extraction_process(
    server: LoopbackServer, tmp_path: Path
) -> None:
    url, _ = serve_feed(server, 1, 3, etag='"v1"')
    settings = make_settings(tmp_path, [SourceSpec("news", url)])
    with Pipeline(settings, workers=1) as pipeline:  # stores the items and the ETag
        pipeline.prepare()
        assert [i.status for i in pipeline.run_once().items] == ["done"] * 3
    with Pipeline(settings, workers=2) as pipeline:
        report = pipeline.run_once(all_sources=True)
        assert report.sources[0].value is not None and report.sources[0].value.not_modified
        assert report.items == ()
        assert pipeline._pool is None and multiprocessing.active_children() == []


def test_a_pass_with_new_items_starts_its_workers_ahead(
    server: LoopbackServer, tmp_path: Path
) -> None:
    url, _ = serve_feed(server, 2, 4)
    settings = make_settings(tmp_path, [SourceSpec("news", url)])
    with Pipeline(settings, workers=2) as pipeline:
        pipeline.prepare()
        report = pipeline.run_once()
        assert pipeline._pool is not None
        assert 1 <= len(multiprocessing.active_children()) <= 2
    assert sorted(i.status for i in report.items) == ["done"] * 4


def test_after_a_model_failure_a_pass_stops_trying_and_reports_it_once(
    server: LoopbackServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = serve_feed(server, 3, 4)
    settings = make_settings(tmp_path, [SourceSpec("news", url)], classify=True)
    settings = dataclasses.replace(
        settings, classifier=dataclasses.replace(settings.classifier, batch_size=1))
    settings.model_dir.mkdir(parents=True)
    (settings.model_dir / SIDECAR).write_text("{not json")
    (settings.model_dir / WEIGHTS).write_bytes(b"garbage")
    with Pipeline(settings, workers=1) as pipeline, caplog.at_level(logging.ERROR):
        pipeline.prepare()
        report = pipeline.run_once()
        with session_scope(pipeline.engine) as session:
            counts = tags.classification_counts(session=session)
    assert sorted(i.status for i in report.items) == ["done"] * 4
    assert counts["unclassified"] == 4  # queued, not lost
    errors = [r for r in caplog.records if "unclassified" in r.getMessage()]
    assert len(errors) == 1


def test_tag_while_storing_passes_every_result_on(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [])  # classifier off: nothing is tagged
    results = [ItemResult(i, "done" if i % 2 else "duplicate", "page", "en") for i in range(5)]
    with Pipeline(settings, workers=1) as pipeline:
        pipeline.prepare()
        assert list(pipeline.tag_while_storing(iter(results))) == results
