"""Every feed of feedparser's own test suite, served over HTTP with its headers and run
through the ingest path (fetch, parse, store): none may raise out of it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from monitor.pipeline import Pipeline
from monitor.types import SourceSpec
from tests.loopback import LoopbackServer
from tests.pipeline_helpers import make_settings

HEADER = re.compile(rb"^\s*Header:\s*([^:\s]+):\s*(.*?)\s*$", re.MULTILINE)


def _headers(data: bytes) -> dict[str, str]:
    comment = data[: data.find(b"-->")] if b"-->" in data[:4000] else b""
    found = {k.decode("latin-1"): v.decode("latin-1") for k, v in HEADER.findall(comment)}
    found.setdefault("Content-Type", "text/xml")
    return found


@pytest.mark.slow
def test_every_peer_feed_goes_through_fetch_parse_store(
    peers: Path, server: LoopbackServer, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    root = peers / "feedparser-tests"
    files = sorted(p for p in root.rglob("*") if p.suffix in (".xml", ".json"))
    sources = []
    for n, path in enumerate(files):
        data = path.read_bytes()
        rel = "/" + path.relative_to(root).as_posix()
        server.route(rel, data, headers=_headers(data))
        sources.append(SourceSpec(f"peer-{n}", server.url(rel)))
    settings = make_settings(tmp_path, sources, fetch_articles=False)
    with Pipeline(settings, workers=1) as pipeline:
        pipeline.prepare()
        results = list(pipeline.update_sources(pipeline.due(all_sources=True)))
    outcomes = Counter(
        "ok" if r.ok else type(r.error).__name__ for r in results
    )
    entries = sum(r.value.new_items + r.value.seen_items for r in results if r.value)
    warned = sum(1 for r in results if r.value and r.value.warnings)
    summary = (f"files={len(files)} results={len(results)} outcomes={dict(outcomes)} "
               f"with-warnings={warned} entries={entries}")
    print(summary)
    record_property("feedparser_peers_ingest", summary)
    assert len(results) == len(files), summary
    # anything but a clean value or a ParseError is a bug somewhere in the ingest path
    assert set(outcomes) <= {"ok", "ParseError"}, summary
    assert outcomes["ParseError"] < len(files) * 0.02, summary
