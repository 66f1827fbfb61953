"""kill -9 in the middle of a pass, then run again: nothing lost, nothing twice."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.cli_helpers import popen_monitor, run_monitor, write_config
from tests.loopback import LoopbackServer, Request, Response
from tests.sitegen import article_page, article_text, feed_items, rss_feed

FEEDS, PER_FEED = 3, 10


def _serve(server: LoopbackServer, delay: float) -> list[dict[str, object]]:
    sources = []
    for f in range(FEEDS):
        items = feed_items(server.url(""), f, PER_FEED)
        for i, (_g, link, title, _p) in enumerate(items):
            page = article_page(title, article_text(f * 100 + i)).encode()

            def handler(_req: Request, page: bytes = page) -> Response:
                return Response(200, {"Content-Type": "text/html; charset=utf-8"}, page,
                                delay=delay)

            server.route(link.removeprefix(server.url("")), handler=handler)
        server.route(f"/f{f}.xml", rss_feed(f"F{f}", items),
                     headers={"Content-Type": "application/rss+xml"})
        sources.append({"name": f"feed-{f}", "url": server.url(f"/f{f}.xml")})
    return sources


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute("SELECT status, count(*) FROM item GROUP BY status").fetchall()
    return dict(rows)


@pytest.mark.slow
def test_kill_9_mid_pass_then_restart_loses_nothing_and_stores_nothing_twice(
    server: LoopbackServer, tmp_path: Path
) -> None:
    sources = _serve(server, delay=0.3)
    config = write_config(tmp_path / "monitor.toml", data_dir=tmp_path, sources=sources,
                          extra="")
    db = tmp_path / "monitor.db"
    proc = popen_monitor("-c", str(config), "run", "--once")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    done = _counts(db).get("done", 0)
                except sqlite3.OperationalError:
                    done = 0
                if done >= 3:
                    break
            if proc.poll() is not None:
                pytest.fail(f"the pass ended before it could be killed: {proc.communicate()}")
            time.sleep(0.05)
        else:
            pytest.fail("no item was processed in time")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = _counts(db)
    assert before.get("pending", 0) > 0, f"killed too late to prove anything: {before}"

    run_monitor("-c", str(config), "run", "--once", timeout=120)

    after = _counts(db)
    assert after == {"done": FEEDS * PER_FEED}, after
    with sqlite3.connect(db) as conn:
        links = conn.execute("SELECT count(*), count(DISTINCT source_id || '/' || guid) "
                             "FROM item_source").fetchone()
        urls = conn.execute("SELECT count(*), count(DISTINCT canonical_url) FROM item").fetchone()
        empty = conn.execute("SELECT count(*) FROM item WHERE text IS NULL OR text = ''"
                             ).fetchone()[0]
    assert links == (FEEDS * PER_FEED, FEEDS * PER_FEED)
    assert urls == (FEEDS * PER_FEED, FEEDS * PER_FEED)
    assert empty == 0
