"""The loopback news site, the service's configs and runs, and what it stored."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks.ingest.measure import Run, run_subprocess
from tests.benchmarks.ingest.pages import Page
from tests.loopback import LoopbackServer, Request, Response
from tests.sitegen import rss_feed

HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def monitor_run(config: Path, log: Path, *, timeout: float, sample: bool = False) -> Run:
    return run_subprocess(["-m", "monitor", "-c", str(config), "run", "--once", "--all"],
                          log=log, timeout=timeout, sample=sample)


def fresh_db(db: Path) -> Path:
    """``db`` with no file left from an earlier run (nor its WAL and shared memory)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    return db


#: Extra TOML for every config (``[classifier] enabled = false`` with --no-classifier).
EXTRA_CONFIG: list[str] = []


def write_config(path: Path, db: Path, sources: Iterable[tuple[str, str]], *,
                 fetch_articles: bool = True) -> Path:
    lines = [
        f"data_dir = {json.dumps(str(path.parent))}",
        f"database_url = {json.dumps('sqlite:///' + str(db))}",
        "include_default_sources = false",
        "",
        "[fetch]",
        'allowed_hosts = ["127.0.0.1"]',
        f"fetch_articles = {str(fetch_articles).lower()}",
        "",
        "[schedule]",
        "extraction_workers = 0",
        "",
        *EXTRA_CONFIG,
    ]
    for name, url in sources:
        lines += ["[[sources]]", f"name = {json.dumps(name)}", f"url = {json.dumps(url)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def prepare_classifier(work: Path) -> str:
    """Train the model every pass will load, once, untimed (a daemon has one already).

    Returns what the passes will do about classification, for the report.
    """
    from monitor.config import load_settings

    config = write_config(work / "train.toml", fresh_db(work / "train.db"), [])
    try:
        settings: Any = load_settings(config)
    except Exception as exc:  # e.g. [classifier] in a checkout that has none
        raise RuntimeError(f"{config}: {exc}") from exc
    classifier = getattr(settings, "classifier", None)
    if classifier is None:
        return "none in this checkout"
    if not classifier.enabled:
        return "switched off (--no-classifier)"
    run = run_subprocess(["-m", "monitor", "-c", str(config), "train"], log=work / "train",
                         timeout=1800)
    return (f"on, as shipped: each pass tags the stored items with a model trained "
            f"beforehand ({run.wall:.1f} s, not counted)")


def timed_pass(config: str) -> None:
    """``--timed-pass CONFIG``: one pass in this process, each step timed; JSON to stdout."""
    t0 = time.perf_counter()
    from monitor.config import load_settings
    from monitor.pipeline import Pipeline

    t1 = time.perf_counter()
    settings = load_settings(config)
    pipeline = Pipeline(settings)
    with pipeline:
        pipeline.prepare()
        t2 = time.perf_counter()
        report = pipeline.run_once(all_sources=True)
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    not_modified = sum(1 for r in report.sources if r.value is not None and r.value.not_modified)
    print(json.dumps({
        "import": t1 - t0, "prepare": t2 - t1, "run_once": t3 - t2, "close": t4 - t3,
        "sources": len(report.sources), "not_modified": not_modified,
        "failed": sum(1 for r in report.sources if not r.ok), "items": len(report.items),
    }))



# --------------------------------------------------------------------------- the site


class Site:
    """Routes on a LoopbackServer, with counters of what was served."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def page(self, path: str, body: bytes) -> str:
        fixed = Response(200, HTML_TYPE, body)

        def handler(_req: Request) -> Response:
            self.count("page 200")
            return fixed

        self.server.route(path, handler=handler)
        return self.server.url(path)

    def feed(self, path: str, body: bytes, *, etag: str | None = None) -> str:
        headers = dict(RSS_TYPE, **({"ETag": etag} if etag else {}))
        full = Response(200, headers, body)
        unchanged = Response(304, {"ETag": etag} if etag else {})

        def handler(req: Request) -> Response:
            if etag and req.headers.get("if-none-match") == etag:
                self.count("feed 304")
                return unchanged
            self.count("feed 200")
            return full

        self.server.route(path, handler=handler)
        return self.server.url(path)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


def _items(links: Sequence[tuple[str, str]], base: datetime) -> list[tuple[str, str, str,
                                                                          datetime]]:
    return [(link, link, title, base + timedelta(minutes=i))
            for i, (link, title) in enumerate(links)]


def serve_ingest_site(site: Site, pages: Sequence[Page], feeds: int, items: int
                      ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``feeds`` x ``items``, each item its own URL, pages cycled; (sources, url -> page id)."""
    sources, page_of = [], {}
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for f in range(feeds):
        links = []
        for i in range(items):
            page = pages[(f * items + i) % len(pages)]
            url = site.page(f"/news/{f:04d}/{i:03d}-{page.id[:16]}.html", page.raw)
            page_of[url] = page.id
            links.append((url, f"Story {f}-{i} on health cooperation"))
        body = rss_feed(f"News feed {f}", _items(links, start)).encode()
        sources.append((f"news-{f:04d}", site.feed(f"/feeds/news-{f:04d}.xml", body)))
    return sources, page_of


def serve_f1_site(site: Site, pages: Sequence[Page], per_feed: int = 20
                  ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    sources, page_of = [], {}
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for f, chunk in enumerate(_chunks(pages, per_feed)):
        links = []
        for page in chunk:
            url = site.page(f"/bench/{page.id}.html", page.raw)
            page_of[url] = page.id
            links.append((url, f"Benchmark page {page.id[:12]}"))
        body = rss_feed(f"Benchmark {f}", _items(links, start)).encode()
        sources.append((f"bench-{f:02d}", site.feed(f"/feeds/bench-{f:02d}.xml", body)))
    return sources, page_of


def serve_unchanged_site(site: Site, feeds: int, items: int = 3) -> list[tuple[str, str]]:
    """Feeds with an ETag that answer 304 to it; their articles are never fetched."""
    sources = []
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for f in range(feeds):
        links = [(site.server.url(f"/static/{f:04d}/{i}.html"), f"Archive story {f}-{i}")
                 for i in range(items)]
        body = rss_feed(f"Quiet feed {f}", _items(links, start)).encode()
        url = site.feed(f"/feeds/quiet-{f:04d}.xml", body, etag=f'"quiet-{f}-v1"')
        sources.append((f"quiet-{f:04d}", url))
    return sources


def _chunks(seq: Sequence[Page], n: int) -> list[Sequence[Page]]:
    return [seq[i:i + n] for i in range(0, len(seq), n)]


# --------------------------------------------------------------------------- database


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


@dataclass
class Stored:
    status: Counter[str]
    methods: Counter[str]
    first_fetch: datetime | None
    first_processed: datetime | None
    last_processed: datetime | None
    rows: list[tuple[int, str, str, str | None, int | None, str | None, str | None]] = field(
        default_factory=list)  # id, url, status, text, duplicate_of_id, method, last_error


def read_db(db: Path, *, texts: bool = False) -> Stored:
    with sqlite3.connect(db) as conn:
        status = Counter(dict(conn.execute("SELECT status, count(*) FROM item GROUP BY status")))
        methods = Counter({m or "none": n for m, n in conn.execute(
            "SELECT method, count(*) FROM item WHERE status = 'done' GROUP BY method")})
        first_fetch = conn.execute("SELECT min(started_at) FROM fetch_log").fetchone()[0]
        first, last = conn.execute(
            "SELECT min(processed_at), max(processed_at) FROM item").fetchone()
        rows = conn.execute(
            f"SELECT id, url, status, {'text' if texts else 'NULL'}, duplicate_of_id, method, "
            "last_error FROM item ORDER BY id").fetchall()
    return Stored(status, methods, _ts(first_fetch), _ts(first), _ts(last), rows)

