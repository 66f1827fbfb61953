"""Classification inside the service: tagging as items are stored, the queue when no
model can be loaded, and the command line other tools rely on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from classifiers.persistence import SIDECAR, WEIGHTS
from monitor.pipeline import Pipeline
from monitor.types import SourceSpec
from storage import classifications as tags
from storage.db import session_scope
from storage.models import Classification
from tests.cli_helpers import ROOT, monitor_env, run_monitor, write_config
from tests.loopback import LoopbackServer
from tests.pipeline_helpers import make_settings
from tests.sitegen import article_page, rss_feed

COOPERATION = (
    "Azerbaijan's Health Minister met a delegation from China's National Health Commission "
    "in Baku. The sides signed a memorandum on cooperation in cardiology: Chinese cardiac "
    "surgeons will train Azerbaijani doctors, and joint research on heart failure will "
    "start at the Scientific Research Institute of Cardiology next year. "
)
DOMESTIC = (
    "The football club won the national cup final on Sunday evening in front of a full "
    "stadium. The coach praised the players and the fans celebrated in the city centre. "
)


@pytest.fixture
def served(server: LoopbackServer) -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    server.route("/coop.html", article_page("Memorandum with China on cardiology",
                                            [COOPERATION] * 3))
    server.route("/sport.html", article_page("Cup final", [DOMESTIC] * 3))
    server.route("/feed.xml", rss_feed("F", [
        ("a", server.url("/coop.html"), "Memorandum with China on cardiology", now),
        ("b", server.url("/sport.html"), "Cup final", now)]))
    return server.url("/feed.xml")


def test_items_are_tagged_as_they_are_stored(served: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [SourceSpec("news", served)], classify=True)
    with Pipeline(settings, workers=1) as pipeline:
        pipeline.prepare()
        pipeline.run_once()
        assert (settings.model_dir / "model.json").is_file()  # trained at first use, saved
        assert not list(settings.model_dir.glob("*.pkl"))
        with session_scope(pipeline.engine) as session:
            rows = {r.item_id: r for r in session.exec(select(Classification))}
            assert tags.classification_counts(session=session)["unclassified"] == 0
    assert len(rows) == 2
    coop, sport = rows[1], rows[2]
    assert coop.relevant and "CN" in coop.countries and "cardiology" in coop.domains
    assert coop.model_version == sport.model_version
    assert not sport.relevant and sport.countries == [] and sport.domains == []


def test_a_model_that_cannot_load_leaves_items_queued_not_lost(
    served: str, tmp_path: Path, seeds_model_dir: Path
) -> None:
    settings = make_settings(tmp_path, [SourceSpec("news", served)], classify=True)
    settings.model_dir.mkdir(parents=True)
    (settings.model_dir / SIDECAR).write_text("{not json")
    (settings.model_dir / WEIGHTS).write_bytes(b"garbage")
    with Pipeline(settings, workers=1) as pipeline:
        pipeline.prepare()
        report = pipeline.run_once()
        assert sorted(i.status for i in report.items) == ["done", "done"]
        with session_scope(pipeline.engine) as session:
            assert tags.classification_counts(session=session) == {
                "classified": 0, "relevant": 0, "unclassified": 2}
        # the model is repaired (a good one copied in its place): the queue drains
        for path in settings.model_dir.iterdir():
            path.unlink()
        for path in seeds_model_dir.iterdir():
            shutil.copyfile(path, settings.model_dir / path.name)
        pipeline.tagger.reset()
        assert pipeline.classify_items() == 2
        with session_scope(pipeline.engine) as session:
            assert tags.classification_counts(session=session)["unclassified"] == 0


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], input=stdin,
                          capture_output=True, text=True, env=monitor_env(), cwd=ROOT,
                          timeout=300, check=False)


def test_classify_train_evaluate_explain_reclassify_on_the_command_line(
    served: str, tmp_path: Path
) -> None:
    cfg = str(write_config(tmp_path / "m.toml", data_dir=tmp_path,
                           sources=[{"name": "news", "url": served}], classify=True))
    model = tmp_path / "model"  # the default place: data_dir/model
    trained = run_monitor("-c", cfg, "train", timeout=300)
    assert "saved to" in trained.stdout and (model / "model.json").is_file()

    lines = "\n".join(json.dumps(d) for d in [
        {"id": "1", "title": "Cardiology memorandum", "text": COOPERATION, "language": "en"},
        {"id": "2", "title": "Cup final", "text": DOMESTIC},
    ])
    out = _cli("-c", cfg, "classify", "--model", str(model), stdin=lines)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in results] == ["1", "2"]
    for r in results:
        assert set(r) == {"id", "relevant", "relevance", "countries", "domains", "scores",
                          "model_version"}
        assert all(c.isupper() and len(c) == 2 for c in r["countries"])
    assert results[0]["relevant"] and results[0]["countries"] == ["CN"]
    assert not results[1]["relevant"]

    bad = _cli("-c", cfg, "classify", "--model", str(model), stdin='{"id": 1}\nnot json\n')
    assert bad.returncode == 2 and "line 1" in bad.stderr and "line 2" in bad.stderr

    data = tmp_path / "labeled.jsonl"
    data.write_text("\n".join(json.dumps(d) for d in [
        {"id": "a", "language": "en", "title": "Cardiology memorandum", "text": COOPERATION,
         "relevant": True, "countries": ["CN"], "domains": ["cardiology", "research"]},
        {"id": "b", "language": "en", "title": "Cup final", "text": DOMESTIC,
         "relevant": False, "countries": [], "domains": []},
    ]) + "\n")
    report = json.loads(run_monitor("-c", cfg, "evaluate", "--data", str(data), "--model",
                                    str(model), "--json").stdout)
    assert "relevance" in json.dumps(report) and "en" in json.dumps(report)

    explained = run_monitor("-c", cfg, "explain", "--model", str(model), "--text",
                            COOPERATION).stdout
    assert "CN" in explained and "cardiology" in explained

    run_monitor("-c", cfg, "run", "--once", timeout=300)  # tags both items with the model
    same = run_monitor("-c", cfg, "reclassify", timeout=300)
    assert "re-tagged 0 items" in same.stdout  # nothing to do: same model version
    # a model trained with more labels is a new version, a candidate until promoted;
    # then reclassify re-tags everything
    retrained = json.loads(run_monitor("-c", cfg, "train", "--extra", str(data), "--json",
                                       timeout=300).stdout)
    assert retrained["training"]["extra"] == 2 and retrained["state"] == "candidate"
    assert "re-tagged 0 items" in run_monitor("-c", cfg, "reclassify", timeout=300).stdout
    run_monitor("-c", cfg, "model", "promote", retrained["version"])
    again = run_monitor("-c", cfg, "reclassify", timeout=300)
    assert "re-tagged 2 items" in again.stdout
