"""``alerts``, ``digest`` and ``status`` on the command line, with a real SMTP server
and the whole chain (ingest -> classify -> alert -> email) in one ``run --once``."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.db import make_engine, migrate
from tests.cli_helpers import popen_monitor, run_monitor, write_config
from tests.loopback import LoopbackServer
from tests.notify_helpers import add_item, add_source
from tests.sitegen import article_page, article_text, rss_feed
from tests.smtp_server import SMTPServer


def _notify_config(tmp_path: Path, smtp_port: int, *, sources: list[dict[str, object]]
                   | None = None, classify: bool = False, rule: str = "") -> Path:
    extra = f"""
[mail]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = 5
sender = "monitor@example.org"

[alerts]
new_country = false
source_failing_after = 0
source_silent_after = 0

[[channels]]
name = "desk"
kind = "email"
to = ["desk@example.org"]

[[alerts.rules]]
name = "turkey"
channels = ["desk"]
{rule or 'countries = ["TR"]'}

[[digests]]
name = "morning"
to = ["team@example.org"]
time = "00:00"
timezone = "Asia/Baku"
when_empty = "send"
"""
    return write_config(tmp_path / "monitor.toml", data_dir=tmp_path, sources=sources or [],
                        extra=extra, classify=classify)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    migrate(engine)
    src = add_source(engine, "azertac")
    now = datetime.now(UTC)
    add_item(engine, src, "Turkish cardiologists visit Baku <b>today</b>", countries=["TR"],
             domains=["cardiology"], created_at=now, classified_at=now)
    add_item(engine, src, "German oncologists", countries=["DE"], domains=["oncology"],
             created_at=now, classified_at=now)
    engine.dispose()
    return tmp_path


def test_alerts_run_list_retry_and_status(seeded: Path) -> None:
    with SMTPServer() as smtp:
        config = str(_notify_config(seeded, smtp.port))
        dry = run_monitor("-c", config, "alerts", "run", "--dry-run").stdout
        assert "turkey: would match 1" in dry and "Turkish cardiologists" in dry
        assert smtp.messages == []
        assert "turkey" not in run_monitor("-c", config, "alerts", "list").stdout

        smtp.replies.append("451 4.3.0 greylisted")
        first = run_monitor("-c", config, "alerts", "run")
        assert "turkey: matched 1 for the first time, 1 message(s) queued" in first.stdout
        assert "retry" in first.stdout and "451" in first.stdout
        status = run_monitor("-c", config, "status").stdout
        assert "alert turkey to desk" in status and "next try" in status

        retried = run_monitor("-c", config, "alerts", "retry", "1").stdout
        assert "1 sent" in retried
        listed = run_monitor("-c", config, "alerts", "list").stdout
        assert "turkey" in listed and "sent" in listed
        again = run_monitor("-c", config, "alerts", "run").stdout
        assert "nothing new matched" in again
    [msg] = smtp.messages
    assert msg["Subject"] == "[monitor] turkey: 1 new item: Türkiye"
    assert "<b>today</b>" in msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;today&lt;/b&gt;" in msg.get_body(  # type: ignore[union-attr]
        preferencelist=("html",)).get_content()


def test_a_refused_delivery_is_shown_in_status(seeded: Path) -> None:
    with SMTPServer() as smtp:
        config = str(_notify_config(seeded, smtp.port))
        smtp.replies.append("550 5.7.1 relaying denied")
        proc = run_monitor("-c", config, "alerts", "run", check=False)
        assert proc.returncode == 1 and "refused" in proc.stdout
        status = run_monitor("-c", config, "status").stdout
        assert "550" in status and "alerts retry --refused" in status
        assert "1 sent" in run_monitor("-c", config, "alerts", "retry", "--refused").stdout
    assert len(smtp.messages) == 1


def test_digest_preview_and_send_once(seeded: Path) -> None:
    with SMTPServer() as smtp:
        config = str(_notify_config(seeded, smtp.port))
        text = run_monitor("-c", config, "digest", "preview").stdout
        assert text.startswith("Subject: Health cooperation digest — ")
        assert "== Türkiye (1 item" in text and "== Germany (1 item" in text
        out = seeded / "preview.html"
        run_monitor("-c", config, "digest", "preview", "--format", "html", "--output",
                    str(out), "--since", "2d")
        page = out.read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>") and "&lt;b&gt;today&lt;/b&gt;" in page

        dry = run_monitor("-c", config, "digest", "send", "--dry-run").stdout
        assert "would be sent (2 items) to team@example.org" in dry
        assert smtp.messages == []
        sent = run_monitor("-c", config, "digest", "send").stdout
        assert "queued for sending (2 items)" in sent and "1 sent" in sent
        twice = run_monitor("-c", config, "digest", "send").stdout
        assert "already recorded for this day" in twice
        status = run_monitor("-c", config, "digest", "status").stdout
        assert "morning" in status and "sent" in status
        unknown = run_monitor("-c", config, "digest", "send", "--name", "nope", check=False)
        assert unknown.returncode == 1 and "no digest named 'nope'" in unknown.stderr
    assert len(smtp.messages) == 1
    assert smtp.envelopes[0][1] == ["team@example.org"]


def test_bad_alert_config_names_the_key(tmp_path: Path) -> None:
    config = _notify_config(tmp_path, 25, rule='countries = ["TR"]\ndomains = ["kardio"]')
    proc = run_monitor("-c", str(config), "alerts", "run", check=False)
    assert proc.returncode == 2
    assert "alerts.rules[0].domains" in proc.stderr and "unknown domain 'kardio'" in proc.stderr


@pytest.mark.slow
def test_run_once_ingests_classifies_and_alerts(server: LoopbackServer, tmp_path: Path) -> None:
    items = []
    for i, title in enumerate(["Azerbaijani and Turkish cardiologists sign a memorandum",
                               "Football results"]):
        path = f"/news/{i}.html"
        server.route(path, article_page(title, article_text(700 + i)))
        items.append((f"g{i}", server.url(path), title, datetime(2026, 11, 21, 9, i,
                                                                  tzinfo=UTC)))
    server.route("/feed.xml", rss_feed("News", items),
                 headers={"Content-Type": "application/rss+xml"})
    with SMTPServer() as smtp:
        config = _notify_config(tmp_path, smtp.port, classify=True,
                                sources=[{"name": "news", "url": server.url("/feed.xml")}],
                                rule="min_relevance = 0.0")
        out = run_monitor("-c", str(config), "run", "--once", timeout=300).stdout
        assert "2 stored" in out
        assert "alert turkey: 2 new, 1 message(s)" in out
        assert "digest morning for" in out
        again = run_monitor("-c", str(config), "run", "--once", "--all", timeout=300).stdout
        assert "alert turkey" not in again
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert len(subjects) == 2, subjects
    assert subjects[0].startswith("Health cooperation digest")
    assert subjects[1].startswith("[monitor] turkey: 2 new items")


def test_the_daemon_sends_the_due_digest_and_alerts(seeded: Path) -> None:
    with SMTPServer() as smtp:
        config = _notify_config(seeded, smtp.port)
        proc = popen_monitor("-c", str(config), "run")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(smtp.messages) < 2:
                if proc.poll() is not None:
                    pytest.fail(f"daemon exited early: {proc.communicate()}")
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert len(subjects) == 2, (subjects, err)
    assert subjects[0].startswith("Health cooperation digest — ")
    assert subjects[0].endswith(": 2 items, 2 countries")
    assert subjects[1] == "[monitor] turkey: 1 new item: Türkiye"
