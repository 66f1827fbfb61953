"""The extraction processes: what they import, how they start, what they return."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import dedupe
from monitor.errors import ExtractionError
from monitor.pipeline import Pipeline
from monitor.pipeline.analysis import Analysis, analyse_page, fingerprint, warm_up
from monitor.types import Article
from tests.cli_helpers import ROOT, monitor_env
from tests.pipeline_helpers import make_settings
from tests.sitegen import article_page, article_text

#: What the rest of the service needs and an extraction process must not load.
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "httpx", "httpcore", "feedparser", "storage",
         "classifiers", "scipy", "typer", "rich", "apscheduler", "monitor.fetching",
         "monitor.pipeline.core", "monitor.config")


def _loaded_after(code: str) -> set[str]:
    """Top modules (and monitor's own) loaded by a fresh interpreter running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=monitor_env(), cwd=ROOT, check=True, timeout=60).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_the_worker_module_imports_only_extraction_and_dedupe() -> None:
    loaded = _loaded_after("import monitor.pipeline.analysis")
    assert _heavy(loaded) == []
    assert {"monitor.extraction", "monitor.dedupe"} <= loaded


def test_the_fork_server_preload_is_lean_too() -> None:
    loaded = _loaded_after("import monitor.pipeline.preload")
    assert _heavy(loaded) == []
    assert "trafilatura" in loaded and "py3langid" in loaded  # warmed up: loaded to share


def test_the_pipeline_package_still_exports_its_names() -> None:
    import monitor.pipeline as package

    assert package.Pipeline is Pipeline
    assert package.analyse_page is analyse_page and package.Analysis is Analysis
    with pytest.raises(AttributeError):
        package.nothing_here  # noqa: B018


def test_analyse_page_fingerprints_the_extracted_text() -> None:
    html = article_page("Vaccines for rural clinics", article_text(7)).encode()
    result = analyse_page(html, {"content-type": "text/html"}, "https://x.example/a")
    text = result.article.text
    assert result.article.method == "page" and text
    assert result.content_hash == dedupe.content_hash(text)
    assert result.signature == dedupe.text_signature(text)
    assert result.bands == tuple(dedupe.signature_bands(result.signature))
    assert result.words == dedupe.word_count(text)
    assert fingerprint(result.article) == result


def test_analyse_page_skips_the_page_date_when_asked() -> None:
    html = article_page("Dated story", article_text(8)).encode()
    with_date = analyse_page(html, {}, "https://x.example/b")
    without = analyse_page(html, {}, "https://x.example/b", False)
    assert with_date.article.published is not None
    assert without.article.published is None
    assert without.article.text == with_date.article.text


def test_warm_up_runs_and_a_bad_page_still_raises() -> None:
    warm_up()
    with pytest.raises(ExtractionError):
        analyse_page(b"", {}, "https://x.example/empty")


def test_workers_are_forked_from_a_lean_server(tmp_path: Path) -> None:
    with Pipeline(make_settings(tmp_path, []), workers=2) as pipeline:
        pipeline.start_workers()
        pool = pipeline._extractor()
        assert pool is not None
        # a builtin, so that the worker imports nothing to run it
        loaded = set(pool.submit(eval, "sorted(__import__('sys').modules)").result(60))
        html = article_page("In a worker", article_text(9)).encode()
        result = pool.submit(analyse_page, html, {}, "https://x.example/w").result(60)
    assert isinstance(result.article, Article) and result.article.language == "en"
    assert _heavy(loaded) == []
    assert "trafilatura" in loaded  # preloaded by the fork server

