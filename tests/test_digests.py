"""Daily digests: the schedule across daylight-saving changes, the content, exactly
once across restarts and instances, and a rendering in headless Chromium."""

from __future__ import annotations

import itertools
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from lxml import html as lxml_html
from sqlalchemy.engine import Engine

from monitor.config import DigestSettings
from monitor.digests import due_period, scheduled_instant
from monitor.pipeline import Pipeline
from storage.db import session_scope
from storage.models import DeliveryStatus
from storage.notifications import list_deliveries
from tests.notify_helpers import add_item, add_source, as_two_instances, hours, notify_settings
from tests.smtp_server import SMTPServer

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"
MORNING = DigestSettings(name="morning", to=("team@example.org",), time="07:30",
                         timezone="Asia/Baku")


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(("zone", "at", "start"), [
    ("Europe/Berlin", "02:30", datetime(2026, 3, 27, tzinfo=UTC)),  # 02:30 does not exist
    ("Europe/Berlin", "02:30", datetime(2026, 10, 23, tzinfo=UTC)),  # 02:30 happens twice
    ("America/New_York", "01:30", datetime(2026, 10, 30, tzinfo=UTC)),  # 1 Nov: twice
    ("America/New_York", "02:15", datetime(2026, 3, 6, tzinfo=UTC)),  # 8 Mar: skipped
    ("Asia/Baku", "07:30", datetime(2026, 11, 18, tzinfo=UTC)),  # no DST at all
])
def test_one_instant_per_local_day_across_dst(zone: str, at: str, start: datetime) -> None:
    seen: list[date] = []
    now = start
    while now < start + timedelta(days=5):
        day, instant = due_period(now, at, zone)
        assert instant <= now < instant + timedelta(hours=25)
        if not seen or seen[-1] != day:
            seen.append(day)
        now += timedelta(minutes=5)
    steps = [(b - a).days for a, b in itertools.pairwise(seen)]
    assert steps == [1] * len(steps), seen  # no day skipped, none twice
    assert len(seen) in (5, 6)


def test_the_skipped_and_doubled_wall_times_map_to_one_instant() -> None:
    spring = scheduled_instant(date(2026, 3, 29), "02:30", "Europe/Berlin")
    assert spring == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # = 03:30 CEST
    autumn = scheduled_instant(date(2026, 10, 25), "02:30", "Europe/Berlin")
    assert autumn == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # first 02:30 (CEST)


def test_the_daemon_sends_one_digest_a_day_across_a_dst_change(tmp_path: Path) -> None:
    digest = DigestSettings(name="berlin", to=("team@example.org",), time="02:30",
                            timezone="Europe/Berlin", when_empty="send")
    with SMTPServer() as smtp, _pipeline(tmp_path, smtp, digest) as p:
        start = datetime(2026, 3, 27, 12, tzinfo=UTC)
        now = start
        while now < start + timedelta(days=4):  # 27 (at start), 28, 29 (no 02:30), 30, 31
            p.run_digests(now=now)
            p.deliver_due(now=now)
            now += timedelta(minutes=20)
    subjects = [m["Subject"] for m in smtp.messages]
    days = [s.split(" — ")[1].split(":")[0] for s in subjects]
    assert days == ["27 Mar 2026", "28 Mar 2026", "29 Mar 2026", "30 Mar 2026",
                    "31 Mar 2026"], subjects


# --------------------------------------------------------------------------- content


def _pipeline(tmp_path: Path, smtp: SMTPServer | None, *digests: DigestSettings,
              db: str = "") -> Pipeline:
    settings = notify_settings(tmp_path, database_url=db, smtp_port=smtp.port if smtp else 0,
                               digests=digests or (MORNING,))
    pipeline = Pipeline(settings, workers=1)
    pipeline.prepare()
    return pipeline


def _newsroom(engine: Engine) -> dict[str, int]:
    """A day of news: two countries, several domains, a near-duplicate, hostile input."""
    azertac = add_source(engine, "azertac")
    apa = add_source(engine, "apa")
    moh = add_source(engine, "moh-az")
    day = datetime(2026, 11, 21, 9, tzinfo=UTC)
    ids = {
        "tr-cardio": add_item(engine, azertac, "Turkish cardiac surgeons operate in Baku",
                              countries=["TR"], domains=["cardiology"], created_at=day),
        "tr-tele": add_item(engine, moh, "Telemedicine link opens with Ankara hospital",
                            countries=["TR"], domains=["telemedicine"], language="az",
                            created_at=day + hours(1)),
        "de-onco": add_item(engine, azertac, "German oncologists train doctors in Ganja",
                            countries=["DE", "TR"], domains=["oncology", "medical-education"],
                            created_at=day + hours(2)),
        "hostile": add_item(engine, apa, "<script>alert('x')</script><img src=x onerror=y> "
                            "Minister\r\nBcc: all@example.org meets delegation",
                            text="<style>body{display:none}</style> Ordinary text follows. "
                                 "<a href='javascript:alert(1)' onclick='x()'>click</a>.",
                            countries=["JP"], domains=["health-policy"],
                            url="javascript:alert(document.cookie)",
                            created_at=day + hours(3)),
        "irrelevant": add_item(engine, apa, "Football results", relevant=False,
                               created_at=day + hours(3)),
        "old": add_item(engine, apa, "Old news from Germany", countries=["DE"],
                        domains=["oncology"], created_at=day - timedelta(days=5)),
    }
    ids["dupe"] = add_item(engine, apa, "Turkish cardiac surgeons operate in Baku (APA)",
                           duplicate_of=ids["tr-cardio"], created_at=day + hours(4))
    return ids


def test_digest_content_grouping_trends_duplicates_and_escaping(tmp_path: Path) -> None:
    with SMTPServer() as smtp, _pipeline(tmp_path, smtp) as p:
        _newsroom(p.engine)
        now = datetime(2026, 11, 22, 3, 31, tzinfo=UTC)  # 07:31 in Baku
        [outcome] = p.run_digests(now=now)
        assert outcome.state == "recorded" and outcome.items == 4
        [sent] = p.deliver_due(now=now)
        assert sent.state == "sent"
    [msg] = smtp.messages
    assert msg["Subject"] == "Health cooperation digest — 22 Nov 2026: 4 items, 3 countries"
    assert msg["Message-ID"] == "<digest.morning.2026-11-22@example.org>"
    assert msg["Bcc"] is None
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]

    # grouped by country, then by domain; an item with two countries under both
    order = [text.index(f"== {name} (") for name in ("Türkiye", "Germany", "Japan")]
    assert order == sorted(order)
    assert "== Türkiye (3 items, new) ==" in text
    assert "-- Cardiology --" in text and "-- Telemedicine --" in text
    assert text.count("* German oncologists train doctors in Ganja") == 2
    # the near-duplicate appears once, with its other source named
    assert text.count("* Turkish cardiac surgeons operate in Baku") == 1
    assert "(APA)" not in text
    assert "Also reported by: apa" in text
    assert "Football" not in text and "Old news" not in text
    # heading: counts, and what is new against the previous fourteen days
    assert "4 items · 3 countries · 5 domains" in text
    assert "New against the previous 14 days: Japan, Türkiye" in text
    # lead: two or three sentences, not the whole text
    assert "The delegation discussed cooperation in health care." in text
    assert "a fourth one" not in text

    # hostile input is neutralised in the HTML
    doc = lxml_html.fromstring(html)
    assert doc.xpath("//script | //style | //img | //iframe | //object | //link") == []
    assert not [a for el in doc.iter() if isinstance(el.tag, str)
                for a in el.attrib if a.lower().startswith("on")]
    hrefs = doc.xpath("//a/@href")
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs)
    assert "javascript:" not in " ".join(hrefs)
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "Minister Bcc: all@example.org meets delegation" in " ".join(
        doc.text_content().split())
    _render_in_chromium(html)


def test_exactly_once_per_day_across_restarts_and_a_missed_time(tmp_path: Path) -> None:
    with SMTPServer() as smtp:
        with _pipeline(tmp_path, smtp) as p:
            ids = _newsroom(p.engine)
        # the service was down at 07:30 Baku time; it comes back at 11:00 and sends once
        late = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
        with _pipeline(tmp_path, smtp) as p:
            assert [o.state for o in p.run_digests(now=late)] == ["recorded"]
            p.deliver_due(now=late)
        for minutes in (1, 30, 300):  # restarts later that day: nothing more
            with _pipeline(tmp_path, smtp) as p:
                [o] = p.run_digests(now=late + timedelta(minutes=minutes))
                assert o.state == "exists"
                assert p.deliver_due(now=late + timedelta(minutes=minutes)) == []
        # the next day covers only what came after the first digest was made
        with _pipeline(tmp_path, smtp) as p:
            assert ids
            add_item(p.engine, add_source(p.engine, "trend"), "Next day: Korea and Azerbaijan",
                     countries=["KR"], domains=["digital-health"], created_at=late + hours(5))
            nxt = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)
            [o] = p.run_digests(now=nxt)
            assert (o.state, o.items) == ("recorded", 1)
            p.deliver_due(now=nxt)
    assert len(smtp.messages) == 2
    assert "22 Nov 2026: 4 items" in smtp.messages[0]["Subject"]
    assert "23 Nov 2026: 1 item, 1 country" in smtp.messages[1]["Subject"]


def test_an_empty_day_is_skipped_or_says_nothing_new(tmp_path: Path) -> None:
    skip = DigestSettings(name="skip", to=("a@example.org",), timezone="UTC")
    send = DigestSettings(name="send", to=("b@example.org",), timezone="UTC",
                          when_empty="send")
    now = datetime(2026, 11, 22, 8, tzinfo=UTC)
    with SMTPServer() as smtp, _pipeline(tmp_path, smtp, skip, send) as p:
        states = {o.name: o.state for o in p.run_digests(now=now)}
        assert states == {"skip": "skipped", "send": "recorded"}
        p.deliver_due(now=now)
        assert {o.name: o.state for o in p.run_digests(now=now)} == {
            "skip": "exists", "send": "exists"}
    [msg] = smtp.messages
    assert msg["Subject"] == "Health cooperation digest — 22 Nov 2026: nothing new"
    assert "Nothing new since the last digest." in msg.get_body(
        preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_digest_filter_and_two_instances_send_it_once(tmp_path: Path, db_url: str,
                                                      engine: Engine) -> None:
    cardio = DigestSettings(name="cardio", to=("heart@example.org",), time="07:30",
                            timezone="Asia/Baku", domains=("cardiology", "telemedicine"))
    _newsroom(engine)
    now = datetime(2026, 11, 22, 3, 45, tzinfo=UTC)
    def work(p: Pipeline) -> None:
        p.run_digests(now=now)
        p.deliver_due(now=now)

    with SMTPServer() as smtp:
        as_two_instances(lambda: _pipeline(tmp_path, smtp, cardio, db=db_url), work)
    [msg] = smtp.messages
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Turkish cardiac surgeons" in text and "Telemedicine link" in text
    assert "German oncologists" not in text and "Minister" not in text
    with session_scope(engine) as session:
        [row] = list_deliveries(session=session, purpose="digest")
    assert row.status == DeliveryStatus.SENT and row.attempts == 1


# --------------------------------------------------------------------------- Chromium


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
        "google-chrome")


def _render_in_chromium(html: str) -> None:
    """Render the digest to ``test-output/digest.png`` so that a person can look at it."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    OUTPUT.mkdir(exist_ok=True)
    page = OUTPUT / "digest.html"
    png = OUTPUT / "digest.png"
    page.write_text(html, encoding="utf-8")
    png.unlink(missing_ok=True)
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-dev-shm-usage", "--no-first-run", "--blink-settings=imagesEnabled=false",
         f"--user-data-dir={OUTPUT / 'chromium-profile'}", "--window-size=760,1400",
         f"--screenshot={png}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    width, height, pixels = _decode_png(png.read_bytes())
    assert (width, height) == (760, 1400)
    # not blank: the page background, the card, and dark text all occur
    assert len(set(pixels)) > 50
    dark = sum(1 for p in pixels if sum(p) < 200)
    assert dark > 200, "no text rendered"  # of the pixels sampled (1 in 16)


def _decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB(A) PNG (enough for Chromium's)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = 0
    color = 2
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows.append(line)
        prev = line
    pixels = [(r[i], r[i + 1], r[i + 2]) for r in rows[::4] for i in range(0, stride, bpp * 4)]
    return width, height, pixels
