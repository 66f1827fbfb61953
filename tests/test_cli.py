"""``python -m monitor`` in a subprocess, against a site served on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli_helpers import popen_monitor, run_monitor, write_config
from tests.loopback import LoopbackServer
from tests.sitegen import article_page, article_text, rss_feed


@pytest.fixture
def site(server: LoopbackServer, tmp_path: Path) -> Path:
    """A config with two healthy feeds and one failing source."""
    now_items = []
    for i in range(3):
        path = f"/en/{i}.html"
        title = ["Cardiology delegation visits Beijing", "Vaccine supply agreement",
                 "Football results"][i]
        server.route(path, article_page(title, article_text(300 + i)))
        published = datetime(2026, 11, 2, 9, i, tzinfo=UTC)
        now_items.append((f"g{i}", server.url(path), title, published))
    server.route("/en.xml", rss_feed("EN", now_items),
                 headers={"Content-Type": "application/rss+xml"})
    server.route("/broken.xml", status=500)
    return write_config(tmp_path / "monitor.toml", data_dir=tmp_path, sources=[
        {"name": "english", "url": server.url("/en.xml"), "language": "en"},
        {"name": "broken", "url": server.url("/broken.xml")},
    ])


def test_help_lists_every_command() -> None:
    out = run_monitor("--help").stdout
    for command in ("run", "status", "sources", "items", "demo"):
        assert command in out


def test_run_once_prints_a_summary_and_items_can_be_listed(site: Path) -> None:
    proc = run_monitor("-c", str(site), "run", "--once")
    assert "english" in proc.stdout and "broken" in proc.stdout
    assert "HTTPStatusError" in proc.stdout  # why the broken source failed
    assert "3 stored" in proc.stdout

    lines = run_monitor("-c", str(site), "items", "list", "--json").stdout.splitlines()
    items = [json.loads(line) for line in lines]
    assert len(items) == 3
    assert {i["sources"][0] for i in items} == {"english"}
    assert all(i["language"] == "en" and i["status"] == "done" for i in items)

    found = run_monitor("-c", str(site), "items", "list", "--json", "--search",
                        "vaccine supply agreement").stdout
    assert [json.loads(x)["title"] for x in found.splitlines()] == ["Vaccine supply agreement"]
    none = run_monitor("-c", str(site), "items", "list", "--json", "--language", "az").stdout
    assert none.strip() == ""
    later = run_monitor("-c", str(site), "items", "list", "--json", "--since", "2099-01-01")
    assert later.stdout.strip() == ""

    item_id = items[0]["id"]
    shown = json.loads(run_monitor("-c", str(site), "items", "show", str(item_id),
                                   "--json").stdout)
    assert shown["id"] == item_id and len(shown["text"].split()) > 200
    plain = run_monitor("-c", str(site), "items", "show", str(item_id)).stdout
    assert "source: english" in plain
    missing = run_monitor("-c", str(site), "items", "show", "999999", check=False)
    assert missing.returncode == 1 and "no item with id 999999" in missing.stderr


def test_status_shows_health_of_each_source(site: Path) -> None:
    run_monitor("-c", str(site), "run", "--once")
    out = run_monitor("-c", str(site), "status").stdout
    lines = {line.split()[1]: line for line in out.splitlines()
             if line.startswith("│") and len(line.split()) > 2}
    assert "english" in lines and "broken" in lines
    assert "500" in lines["broken"]  # the last error
    assert "3 done" in out


def test_sources_add_list_check_remove(site: Path, server: LoopbackServer) -> None:
    server.route("/extra.xml", rss_feed("X", [("x1", server.url("/en/0.html"), "Same story",
                                              datetime.now(UTC))]))
    cfg = str(site)
    run_monitor("-c", cfg, "sources", "add", "extra", server.url("/extra.xml"),
                "--language", "en", "--note", "added in a test")
    listed = [json.loads(x) for x in
              run_monitor("-c", cfg, "sources", "list", "--json").stdout.splitlines()]
    assert {s["name"]: s["origin"] for s in listed}["extra"] == "cli"

    dup = run_monitor("-c", cfg, "sources", "add", "extra", server.url("/extra.xml"), check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    bad = run_monitor("-c", cfg, "sources", "add", "Bad Name", "https://x.org/", check=False)
    assert bad.returncode == 1 and "source.name" in bad.stderr

    checked = run_monitor("-c", cfg, "sources", "check", "extra").stdout
    assert "1 entries, 1 not stored yet" in checked and "Same story" in checked
    assert run_monitor("-c", cfg, "items", "list", "--json").stdout.strip() == ""  # stored nothing

    run_monitor("-c", cfg, "sources", "remove", "extra")
    names = run_monitor("-c", cfg, "sources", "list", "--json").stdout
    assert '"extra"' not in names
    gone = run_monitor("-c", cfg, "sources", "remove", "extra", check=False)
    assert gone.returncode == 1 and "no source named 'extra'" in gone.stderr


def test_bad_config_is_reported_with_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[fetch]\nmax_redirects = "many"\n')
    proc = run_monitor("-c", str(bad), "status", check=False)
    assert proc.returncode == 2
    assert f"{bad}:2: fetch.max_redirects: must be a whole number" in proc.stderr.replace("\n", "")


def test_daemon_ingests_then_stops_cleanly_on_sigterm(site: Path, tmp_path: Path) -> None:
    proc = popen_monitor("-c", str(site), "run")
    db = tmp_path / "monitor.db"
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 3:
            time.sleep(0.2)
            if proc.poll() is not None:
                pytest.fail(f"daemon exited early: {proc.communicate()}")
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    done = conn.execute(
                        "SELECT count(*) FROM item WHERE status = 'done'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
        assert done == 3
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "daemon stopped" in err
    assert "source english" in err  # logs name the source they speak of
