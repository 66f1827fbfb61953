"""The labeling web page, served by a real uvicorn on 127.0.0.1 over a real SQLite file.

Chromium (Debian's, at /usr/bin/chromium, driven by Playwright; no browser download)
opens the queue and labels items with the keyboard; the labels are then read from
the database. httpx checks the login, CSRF, redirects, security headers and escaping
with hostile input at the HTTP level.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from markupsafe import escape
from sqlmodel import col, select
from starlette.applications import Starlette

from monitor.config import ClassifierSettings, Settings, WebSettings, WebUser, load_settings
from monitor.errors import ConfigError
from monitor.pipeline import Pipeline
from monitor.web import create_app, hash_password
from monitor.web.auth import Users, is_loopback, load_secret_key, safe_next, verify_password
from monitor.web.text import highlight, paragraphs
from storage import models_registry
from storage.classifications import ClassificationRecord, save_classifications
from storage.db import session_scope
from storage.models import Label
from tests.notify_helpers import add_item, add_source
from tests.pipeline_helpers import make_settings

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"
PASSWORD = "correct horse battery"
HOSTILE_TITLE = '<script>alert("title")</script><img src=x onerror=alert(1)>'
HOSTILE_TEXT = ('Doctors from Ankara <b>met</b> their colleagues. <script>alert("text")</script> '
                '<img src=x onerror="alert(2)"> <a href="javascript:alert(3)">click</a> '
                '" onmouseover="alert(4)" & more.')


# --------------------------------------------------------------------------- fixtures


@dataclass
class Site:
    url: str
    settings: Settings
    pipeline: Pipeline
    items: dict[str, int]


def _settings(tmp_path: Path) -> Settings:
    base = make_settings(tmp_path, [], database_url=f"sqlite:///{tmp_path / 'web.db'}")
    # no model: the queue uses its default thresholds, nothing gets trained
    return dataclasses.replace(
        base, classifier=ClassifierSettings(enabled=False, auto_train=False),
        web=WebSettings(users=(WebUser(name="aysel", password_hash=hash_password(PASSWORD)),
                               WebUser(name="bob", password_hash=hash_password("bob's pass")))))


def _seed(pipeline: Pipeline) -> dict[str, int]:
    engine = pipeline.engine
    news = add_source(engine, "news-agency")
    ministry = add_source(engine, "ministry")
    items = {
        "cardio": add_item(engine, news, "Turkish cardiac surgeons visit Baku",
                           text="Cardiac surgeons from Ankara met colleagues in Baku.\n\n"
                                "They agreed on joint training in cardiology and surgery.",
                           countries=["TR"], domains=["cardiology", "medical-education"],
                           relevance=0.55),
        "vaccine": add_item(engine, ministry, "Vaccines donated by China",
                            countries=["CN"], domains=["infectious-disease"], relevance=0.6),
        "weather": add_item(engine, news, "Rain expected in the capital", relevant=False,
                            relevance=0.45),
        "hostile": add_item(engine, news, HOSTILE_TITLE, text=HOSTILE_TEXT,
                            url="javascript:alert(3)", countries=["TR"],
                            domains=["cardiology"], relevance=0.1),
    }
    evidence = {
        "cardio": {"relevant": ["cardiac surgeons", "colleagues"], "TR": ["Ankara"],
                   "cardiology": ["cardiology", "cardiac"],
                   "medical-education": ["training"]},
        "hostile": {"relevant": ["<script>", "onerror", "alert"], "TR": ["Ankara"],
                    "cardiology": ['" onmouseover="', "colleagues"]},
    }
    tagged = {"cardio": (["TR"], ["cardiology", "medical-education"], 0.55),
              "hostile": (["TR"], ["cardiology"], 0.1)}
    with session_scope(engine) as session:
        save_classifications([ClassificationRecord(
            item_id=items[k], model_version="test", relevant=True, relevance=tagged[k][2],
            countries=tagged[k][0], domains=tagged[k][1],
            scores={"cardiology": 0.8, "medical-education": 0.4, "research": 0.1},
            evidence=evidence[k]) for k in evidence], session=session)
    return items


class LiveServer:
    """uvicorn serving ``app`` on a free port of 127.0.0.1, in a thread."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()


def _site(tmp_path: Path, **options: Any) -> Iterator[Site]:
    settings = _settings(tmp_path)
    with Pipeline(settings, workers=1) as pipeline:
        pipeline.prepare()
        items = _seed(pipeline)
        app = create_app(pipeline, settings, annotator="tester", **options)
        with LiveServer(app) as url:
            yield Site(url, settings, pipeline, items)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Bound to loopback: no login, labels saved as ``tester``."""
    yield from _site(tmp_path)


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Site]:
    """As if bound to another address: a login is required."""
    yield from _site(tmp_path, require_login=True)


def _labels(site: Site, item_id: int | None = None) -> list[Label]:
    with session_scope(site.pipeline.engine) as session:
        query = select(Label).order_by(col(Label.id))
        rows = list(session.exec(query).all())
        for row in rows:
            session.expunge(row)
    return [r for r in rows if item_id is None or r.item_id == item_id]


def _current(site: Site, item_id: int) -> list[Label]:
    return [r for r in _labels(site, item_id) if r.superseded_at is None]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _client(site: Site) -> httpx.Client:
    return httpx.Client(base_url=site.url, follow_redirects=False, timeout=20)


def _login(client: httpx.Client, name: str = "aysel", password: str = PASSWORD,
           next_url: str = "/queue") -> httpx.Response:
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "name": name, "password": password,
                                       "next": next_url})


# --------------------------------------------------------------------------- Chromium


def _chromium() -> str:
    for path in ("/usr/bin/chromium", shutil.which("chromium") or "",
                 shutil.which("chromium-browser") or ""):
        if path and Path(path).is_file():
            return path
    pytest.skip("no Chromium on this machine (Debian: apt-get install chromium); "
                "the browser tests need the system's browser, none is downloaded")


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any) -> tuple[Any, list[str]]:
    """A fresh page; the list collects console errors (CSP violations show there) and
    any dialog a script managed to open."""
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def dialog(d: Any) -> None:
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    page.set_default_timeout(15_000)
    return page, problems


def _shown_item(page: Any) -> int:
    match = re.search(r"/items/(\d+)/label", page.get_attribute("#label-form", "action") or "")
    assert match
    return int(match.group(1))


def _press(page: Any, key: str) -> None:
    """Press a key that submits a form and wait for the next page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def test_label_items_with_the_keyboard_in_chromium(site: Site, browser: Any) -> None:
    page, problems = _page(browser)
    page.goto(f"{site.url}/queue")
    first = _shown_item(page)
    assert page.locator("#item-title").count() == 1
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "web-label.png"), full_page=True)

    # the most uncertain item comes first: the cardiology visit (relevance 0.55), its
    # suggestion pre-filled and its evidence marked in the escaped text
    assert first == site.items["cardio"]
    assert page.is_checked("#relevant")
    assert page.input_value("#countries") == "TR"
    assert page.is_checked("input[name=domain][value=cardiology]")
    marks = page.locator("#item-text mark").all_inner_texts()
    assert "Ankara" in marks and "cardiology" in marks and "Cardiac surgeons" in marks
    assert "s" in page.inner_text("#keys") and "undo" in page.inner_text("#keys")

    # toggle a domain (research is the 8th: key 8), drop one (medical-education: 7), save
    page.keyboard.press("8")
    page.keyboard.press("7")
    assert page.is_checked("input[name=domain][value=research]")
    _press(page, "s")
    assert "Saved label" in page.inner_text(".flash")
    [label] = _current(site, first)
    assert (label.annotator, label.relevant, label.suggested_by, label.changed) == (
        "tester", True, "test", True)
    assert label.countries == ["TR"] and label.domains == ["cardiology", "research"]

    # the next item: accept the suggestion as it is
    second = _shown_item(page)
    assert second != first
    _press(page, "a")
    [label] = _current(site, second)
    assert (label.annotator, label.suggested_by, label.changed) == ("tester", "test", False)

    # undo takes the last label back and shows that item again
    _press(page, "u")
    assert _current(site, second) == []
    assert _shown_item(page) == second
    assert "Took back" in page.inner_text(".flash")
    # n from an item page goes back to the queue, where it is offered again
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/queue"))
    assert _shown_item(page) == second

    # skip it, then call the next one not relevant
    _press(page, "n")
    third = _shown_item(page)
    assert third not in (first, second)
    _press(page, "r")
    [label] = _current(site, third)
    assert (label.relevant, label.countries, label.domains) == (False, [], [])

    # typing in the countries box does not trigger shortcuts; Enter there saves
    fourth = _shown_item(page)
    page.keyboard.press("c")
    page.keyboard.press("Control+a")
    page.keyboard.type("cn tr")  # 'r' and 'a' here must not reject or accept
    assert _current(site, fourth) == []
    _press(page, "Enter")
    [label] = _current(site, fourth)
    assert label.countries == ["CN", "TR"] and label.relevant
    assert problems == []


def test_log_in_and_label_in_chromium(guarded: Site, browser: Any) -> None:
    page, problems = _page(browser)
    page.goto(f"{guarded.url}/queue?source=ministry")
    assert "/login?next=" in page.url
    page.fill("input[name=name]", "aysel")
    page.fill("input[name=password]", "wrong")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Wrong name or password" in page.inner_text("main")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{guarded.url}/queue?source=ministry"
    item = _shown_item(page)
    assert item == guarded.items["vaccine"]
    _press(page, "a")
    [label] = _current(guarded, item)
    assert (label.annotator, label.suggested_by, label.changed) == ("aysel", "test", False)
    # the refused login answered 401, which Chromium reports; nothing else went wrong
    assert [p for p in problems if "401 (Unauthorized)" not in p] == []


def test_hostile_item_is_shown_escaped_in_chromium(site: Site, browser: Any) -> None:
    page, problems = _page(browser)
    page.goto(f"{site.url}/items/{site.items['hostile']}")
    title = page.inner_text("#item-title")
    assert title == HOSTILE_TITLE  # shown as text, not run
    assert '<script>alert("text")</script>' in page.inner_text("#item-text")
    # the only script is the page's own; no image, no javascript: link, no handler
    scripts = page.eval_on_selector_all("script", "els => els.map(e => e.src)")
    assert scripts == [f"{site.url}/static/label.js"]
    assert page.locator("img").count() == 0
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if h and not h.startswith("/")], hrefs
    handlers = page.evaluate(
        "() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
        ".map(a => a.name)).filter(n => n.startsWith('on'))")
    assert handlers == []
    # evidence words are marked even where they touch hostile text; marks hold text only
    assert page.locator("#item-text mark").count() >= 2
    assert page.eval_on_selector_all("mark", "els => els.filter(e => e.children.length)"
                                     ".length") == 0
    page.goto(f"{site.url}/browse?search=script")
    assert HOSTILE_TITLE in page.inner_text("table.browse")
    page.wait_for_timeout(300)
    assert problems == []


# --------------------------------------------------------------------------- HTTP


def test_pages_answer_with_security_headers(site: Site) -> None:
    with _client(site) as client:
        for path in ("/queue", "/browse", "/model", f"/items/{site.items['cardio']}"):
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-store"
            assert 'style="' not in r.text and "<script>" not in r.text
    with _client(site) as client:
        cookie = client.get("/queue").headers.get("set-cookie", "")
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert client.get("/static/label.js").status_code == 200
        assert client.get("/items/999999").status_code == 404


def test_a_foreign_host_name_is_refused_on_loopback(site: Site) -> None:
    """DNS rebinding: a site whose name points at 127.0.0.1 cannot reach the page."""
    with _client(site) as client:
        assert client.get("/queue", headers={"Host": "evil.example"}).status_code == 421
        assert client.get("/queue", headers={"Host": "localhost:1"}).status_code == 200


def test_login_is_required_when_not_on_loopback(guarded: Site) -> None:
    with _client(guarded) as client:
        for path in ("/queue", "/browse", "/model", f"/items/{guarded.items['cardio']}",
                     "/", "/queue?language=en"):
            r = client.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login?next=")
        assert client.get("/queue?language=en").headers["location"] == (
            "/login?next=%2Fqueue%3Flanguage%3Den")
        for path in ("/undo", "/queue/skip", f"/items/{guarded.items['cardio']}/label"):
            assert client.post(path, data={}).status_code == 403
        assert client.get("/login").status_code == 200
        assert client.get("/static/style.css").status_code == 200

        r = _login(client, password="wrong password")
        assert r.status_code == 401 and "Wrong name or password" in r.text
        assert _login(client, name="mallory").status_code == 401
        assert client.get("/queue").status_code == 303

        r = _login(client, next_url="/browse?search=x")
        assert r.status_code == 303 and r.headers["location"] == "/browse?search=x"
        page = client.get("/queue")
        assert page.status_code == 200 and "labeling as <strong>aysel</strong>" in page.text

        # labels are saved under the logged-in name
        item = guarded.items["cardio"]
        r = client.post(f"/items/{item}/label", data={
            "csrf": _csrf(page.text), "action": "accept", "back": "/queue"})
        assert r.status_code == 303
        assert [x.annotator for x in _current(guarded, item)] == ["aysel"]

        # logging out ends it
        assert client.post("/logout", data={"csrf": _csrf(page.text)}).status_code == 303
        assert client.get("/queue").status_code == 303


def test_failed_logins_are_throttled(guarded: Site) -> None:
    with _client(guarded) as client:
        for _ in range(10):
            assert _login(client, password="nope").status_code == 401
        r = _login(client)  # right, but too late
        assert r.status_code == 429
        assert client.get("/queue").status_code == 303


def test_csrf_token_is_checked_on_every_form(site: Site) -> None:
    item = site.items["vaccine"]
    with _client(site) as client, _client(site) as other:
        token = _csrf(client.get("/queue").text)
        foreign = _csrf(other.get("/queue").text)
        assert token != foreign
        forms = [(f"/items/{item}/label", {"action": "accept"}), ("/undo", {}),
                 ("/queue/skip", {"item_id": str(item)}), ("/queue/unskip", {}),
                 ("/logout", {})]
        for path, data in forms:
            for bad in (None, "", "wrong", foreign):
                sent = dict(data) if bad is None else {**data, "csrf": bad}
                r = client.post(path, data=sent)
                assert r.status_code == 403, (path, bad)
        assert _current(site, item) == []
        # a real Origin of another site is refused even with the right token
        r = client.post(f"/items/{item}/label", data={"csrf": token, "action": "accept"},
                        headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        assert _current(site, item) == []
        r = client.post(f"/items/{item}/label", data={"csrf": token, "action": "accept"})
        assert r.status_code == 303
        assert len(_current(site, item)) == 1


def test_csrf_is_checked_on_the_login_form(guarded: Site) -> None:
    with _client(guarded) as client:
        client.get("/login")
        r = client.post("/login", data={"name": "aysel", "password": PASSWORD})
        assert r.status_code == 403
        assert client.get("/queue").status_code == 303


@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/queue", "http://evil.example", "https://evil.example/",
    "/\\evil.example", "\\\\evil.example", "javascript:alert(1)", "evil.example",
    "/%0d%0aLocation:%20http://evil.example", "/\t/evil.example", " //evil.example",
])
def test_redirects_never_leave_the_site(guarded: Site, target: str) -> None:
    with _client(guarded) as client:
        r = _login(client, next_url=target)
        assert r.status_code == 303
        location = r.headers["location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\"))
        assert "evil.example" not in location or location.startswith("/%")
        # the label form's "back" is held to the same rule
        page = client.get("/queue")
        r = client.post(f"/items/{guarded.items['cardio']}/label", data={
            "csrf": _csrf(page.text), "action": "reject", "back": target})
        assert r.status_code == 303 and r.headers["location"] == (
            target if safe_next(target, "") else "/queue")


def test_safe_next() -> None:
    assert safe_next("/queue?x=1") == "/queue?x=1"
    assert safe_next("/items/3?back=%2Fbrowse") == "/items/3?back=%2Fbrowse"
    for bad in ("//evil", "///evil", "/\\evil", "http://evil", "javascript:x", "", None,
                "evil", "/ok\r\nSet-Cookie: x", "/" + "a" * 3000):
        assert safe_next(bad) == "/", bad


def test_hostile_item_is_escaped_in_the_html(site: Site) -> None:
    with _client(site) as client:
        for path in (f"/items/{site.items['hostile']}", "/browse", "/queue?domain=cardiology"):
            html = client.get(path).text
            assert "<script>alert" not in html and "<img" not in html, path
            assert not re.search(r'=\s*"?\s*javascript:', html), path  # only as text
            assert 'onerror="' not in html and '" onmouseover="' not in html, path
        html = client.get(f"/items/{site.items['hostile']}").text
        title = re.search(r'<h1 id="item-title">(.*?)</h1>', html, re.S)
        assert title
        plain = re.sub(r'<mark class="[a-z -]+" title="[a-z, -]+">|</mark>', "", title.group(1))
        assert plain == str(escape(HOSTILE_TITLE))
        assert "&lt;" in plain and "<" not in plain
        # an evidence word inside an attempted attribute is marked; the quotes stay text
        assert ('&#34; <mark class="ev ev-domain" title="cardiology">onmouseover</mark>'
                '=&#34;') in html


def test_a_bad_label_is_refused_with_its_reason(site: Site) -> None:
    item = site.items["cardio"]
    with _client(site) as client:
        token = _csrf(client.get("/queue").text)
        r = client.post(f"/items/{item}/label", data={
            "csrf": token, "action": "save", "relevant": "1",
            "countries": "TR <b>XX</b>", "domain": ["cardiology", "<i>astrology</i>"]})
        assert r.status_code == 400
        assert "<b>XX" not in r.text and "<i>astrology" not in r.text
        assert 'id="label-error"' in r.text
        assert _current(site, item) == []
        # the page keeps what was sent
        assert 'value="TR &lt;B&gt;XX&lt;/B&gt;"' in r.text


def test_browse_filters_and_search(site: Site) -> None:
    with _client(site) as client:
        html = client.get("/browse", params={"search": "vaccines"}).text
        assert "Vaccines donated by China" in html and "Rain expected" not in html
        html = client.get("/browse", params={"source": "ministry"}).text
        assert "Vaccines donated by China" in html and "Turkish cardiac" not in html
        html = client.get("/browse", params={"since": "yesterday"}).text
        assert "Not a time" in html
        html = client.get("/browse").text
        assert html.count("<tr>") >= 5
        assert f'href="/items/{site.items["cardio"]}?back=/browse"' in html


def test_queue_filters(site: Site) -> None:
    with _client(site) as client:
        html = client.get("/queue", params={"source": "ministry"}).text
        assert "Vaccines donated by China" in html
        html = client.get("/queue", params={"source": "nowhere"}).text
        assert "Nothing to label" in html


def test_model_page_counts_the_labels(site: Site) -> None:
    item = site.items["cardio"]
    site.pipeline.save_label(item, annotator="bob", relevant=True, countries=["TR"],
                             domains=["cardiology"], suggested_by="test")
    site.pipeline.save_label(site.items["weather"], annotator="bob", relevant=False)
    with session_scope(site.pipeline.engine) as session:
        models_registry.register_version(
            "abc123def456", session=session, path="/models/abc123def456", seeds=5,
            stored_labels=40, figures={"key": {"relevance_f1": 0.875}}, note="<b>first</b>")
        models_registry.register_version("fed654", session=session, path="/models/fed654",
                                         state="current")
    with _client(site) as client:
        html = client.get("/model").text
    assert "No model" in html and "python -m monitor train" in html
    assert "2 current labels of 2 items; 1 say relevant" in html
    assert re.search(r"<td>bob</td><td>2</td><td>1</td><td>1</td>", html)
    assert "Cardiology" in html
    # the history of trained models, newest first, the current one marked
    assert html.index("fed654") < html.index("abc123def456")
    assert "5 seeds, 40 labels" in html and "relevance_f1 0.88" in html
    assert "&lt;b&gt;first&lt;/b&gt;" in html and '<tr class="current">' in html


def test_no_login_configured_for_another_address_is_refused(tmp_path: Path) -> None:
    settings = dataclasses.replace(_settings(tmp_path), web=WebSettings(host="0.0.0.0"))
    with Pipeline(settings, workers=1) as pipeline, pytest.raises(ValueError, match="login"):
        create_app(pipeline, settings)


# --------------------------------------------------------------------------- pieces


def test_passwords_are_hashed_with_scrypt_and_a_salt() -> None:
    first, second = hash_password("s3cret pass"), hash_password("s3cret pass")
    assert first != second and first.startswith("scrypt$32768$8$1$")
    assert "s3cret" not in first
    assert verify_password("s3cret pass", first)
    assert not verify_password("s3cret pasS", first)
    assert not verify_password("s3cret pass", "plain")
    assert not verify_password("s3cret pass", "scrypt$x$8$1$AA==$AA==")
    users = Users([WebUser("a", first)])
    assert users.check("a", "s3cret pass") and not users.check("b", "s3cret pass")


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.org", ""):
        assert not is_loopback(host), host


def test_the_secret_key_is_made_once_and_kept(tmp_path: Path) -> None:
    key = load_secret_key("", tmp_path)
    assert len(key) >= 32 and load_secret_key("", tmp_path) == key
    assert (tmp_path / "web-secret-key").stat().st_mode & 0o777 == 0o600
    assert load_secret_key("x" * 40, tmp_path) == "x" * 40


def test_highlight_escapes_before_marking() -> None:
    out = highlight("<b>Cardiac</b> & amp; COVID-19", {"cardiology": ["cardiac"],
                                                       "relevant": ["covid 19", "amp", "b"]})
    assert str(out) == (
        '&lt;<mark class="ev ev-rel" title="relevant">b</mark>&gt;'
        '<mark class="ev ev-domain" title="cardiology">Cardiac</mark>&lt;/'
        '<mark class="ev ev-rel" title="relevant">b</mark>&gt; &amp; '
        '<mark class="ev ev-rel" title="relevant">amp</mark>; '
        '<mark class="ev ev-rel" title="relevant">COVID-19</mark>')
    assert str(highlight("cardiology cardiologist", {"cardiology": ["cardiology"]})).count(
        "<mark") == 1  # whole words only
    assert [str(p) for p in paragraphs("One.\n\nTwo <i>", {})] == ["One.", "Two &lt;i&gt;"]


def test_web_settings_from_file_and_environment(tmp_path: Path) -> None:
    hashed = hash_password("pass word 1")
    path = tmp_path / "m.toml"
    path.write_text(f'[web]\nhost = "0.0.0.0"\nport = 9000\n\n[[web.users]]\nname = "aysel"\n'
                    f'password_hash = "{hashed}"\n', encoding="utf-8")
    s = load_settings(path, env={})
    assert (s.web.host, s.web.port, [u.name for u in s.web.users]) == ("0.0.0.0", 9000,
                                                                      ["aysel"])
    s = load_settings(path, env={"MONITOR_WEB_USERS": f"bob:{hashed}, aysel:{hashed}",
                                 "MONITOR_WEB_SECRET_KEY": "k" * 32})
    assert sorted(u.name for u in s.web.users) == ["aysel", "bob"]
    assert s.web.secret_key == "k" * 32 and "kkkk" not in repr(s.web)
    assert hashed not in repr(s.web)
    for env in ({"MONITOR_WEB_USERS": "bob"}, {"MONITOR_WEB_USERS": "bob:plain"},
                {"MONITOR_WEB_USERS": f"b b:{hashed}"}, {"MONITOR_WEB_SECRET_KEY": "short"}):
        with pytest.raises(ConfigError, match="MONITOR_WEB"):
            load_settings(None, env=env)
    path.write_text('[web]\nport = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"m.toml:2: web.port"):
        load_settings(path, env={})
    path.write_text('[[web.users]]\nname = "a"\npassword_hash = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"web.users\[0\].password_hash"):
        load_settings(path, env={})
    assert Settings().web.host == "127.0.0.1" and Settings().web.port == 8470


def test_serve_hash_password_prints_a_usable_hash() -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    result = CliRunner().invoke(app, ["serve", "--hash-password"], input="long enough pw\n")
    assert result.exit_code == 0, result.output
    hashed = result.output.strip().splitlines()[-1]
    assert verify_password("long enough pw", hashed)
    short = CliRunner().invoke(app, ["serve", "--hash-password"], input="short\n")
    assert short.exit_code == 1


def test_serve_refuses_another_address_without_users(tmp_path: Path) -> None:
    from tests.cli_helpers import run_monitor

    config = tmp_path / "m.toml"
    config.write_text(f'data_dir = "{tmp_path}"\ninclude_default_sources = false\n'
                      '[web]\nhost = "0.0.0.0"\n', encoding="utf-8")
    proc = run_monitor("--config", str(config), "serve", check=False, timeout=60)
    assert proc.returncode == 2
    assert "needs a login" in proc.stderr
