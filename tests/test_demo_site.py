"""The bundled demo site and its server (monitor.demo): served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import re
import socket
import urllib.request
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
import pytest

from monitor.config import load_settings
from monitor.demo import DemoSite
from monitor.types import SourceSpec

MISSING_ARTICLE = "/news/en/2026/11/japan-ultrasound-donation.html"
CARDIO = "/news/en/2026/11/cardiology-delegation-beijing.html"
REPRINT = "/wire/2026/11/baku-heart-specialists-chinese-hospital.html"
TURKIYE = "/news/en/2026/11/turkiye-medical-education-memorandum.html"

FEED_TYPES = {
    "demo-caspian-en": "application/rss+xml; charset=utf-8",
    "demo-caspian-az": "application/atom+xml; charset=utf-8",
    "demo-silkroad-wire": "application/rss+xml; charset=utf-8",
    "demo-vestnik-ru": "application/rss+xml; charset=utf-8",
    "demo-region-ru-cp1251": "application/rss+xml; charset=windows-1251",
    "demo-kafkas-tr": "application/rss+xml; charset=utf-8",
    "demo-health-portal": "text/html; charset=utf-8",
    "demo-ministry-news": "text/html; charset=utf-8",
    "demo-embassy-sitemap": "application/xml; charset=utf-8",
}


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def request(
    site: DemoSite, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> Reply:
    """One raw HTTP exchange (the path is sent as written; redirects are not followed)."""
    parts = urlsplit(site.base_url)
    assert parts.hostname == "127.0.0.1"
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def local_path(site: DemoSite, url: str) -> str:
    assert url.startswith(site.base_url + "/"), url
    return urlsplit(url).path


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite() as demo:
        yield demo


@pytest.fixture(scope="module")
def specs(site: DemoSite) -> dict[str, SourceSpec]:
    return {s.name: s for s in site.sources()}


def site_files(site: DemoSite) -> list[str]:
    """The URL path of every file the server may serve."""
    root = site.root
    return sorted(
        "/" + p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts)
    )


# --------------------------------------------------------------------------- lifecycle


def test_base_url_is_loopback_and_server_stops() -> None:
    demo = DemoSite()
    with pytest.raises(RuntimeError):
        _ = demo.base_url
    with demo:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", demo.base_url)
        assert demo.running
        port = urlsplit(demo.base_url).port
        assert request(demo, "/").status == 200
    assert not demo.running
    with pytest.raises(RuntimeError):
        demo.sources()
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(2)
        sock.connect(("127.0.0.1", port or 0))


def test_two_sites_run_side_by_side() -> None:
    with DemoSite() as one, DemoSite() as two:
        assert one.base_url != two.base_url
        assert two.base_url.encode() in request(two, "/feeds/en.xml").body
        assert one.base_url.encode() not in request(two, "/feeds/en.xml").body


# --------------------------------------------------------------------------- sources


def test_sources_are_valid_config(site: DemoSite, tmp_path: Path) -> None:
    specs = site.sources()
    assert len(specs) == len(FEED_TYPES)
    lines = []
    for s in specs:
        lines += ["[[sources]]", f"name = {json.dumps(s.name)}", f"url = {json.dumps(s.url)}"]
        lines += [f'kind = "{s.kind}"', f"interval = {s.interval}", f'language = "{s.language}"']
        lines.append(f"note = {json.dumps(s.note, ensure_ascii=False)}")
        if s.link_selector:
            lines.append(f"link_selector = {json.dumps(s.link_selector)}")
    config = tmp_path / "demo.toml"
    config.write_text("include_default_sources = false\n" + "\n".join(lines) + "\n", "utf-8")
    settings = load_settings(config, env={})
    assert settings.all_sources() == specs
    for s in specs:
        assert s.name.startswith("demo-")
        assert s.url.startswith(site.base_url + "/")
        assert s.interval == 60
        assert s.language in {"en", "az", "ru", "tr"}
    kinds = {s.kind for s in specs}
    assert kinds == {"feed", "page", "sitemap"}
    (page,) = [s for s in specs if s.kind == "page"]
    assert page.link_selector


@pytest.mark.parametrize("name", sorted(FEED_TYPES))
def test_each_source_is_served_with_base_replaced(
    site: DemoSite, specs: dict[str, SourceSpec], name: str
) -> None:
    with urllib.request.urlopen(specs[name].url, timeout=10) as resp:
        body = resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"] == FEED_TYPES[name]
        assert resp.headers["ETag"]
        assert resp.headers["Last-Modified"]
    assert b"{{BASE}}" not in body
    if name != "demo-health-portal":
        assert site.base_url.encode() in body


def test_feeds_parse_as_the_demo_expects(site: DemoSite, specs: dict[str, SourceSpec]) -> None:
    def parse(name: str) -> feedparser.FeedParserDict:
        with urllib.request.urlopen(specs[name].url, timeout=10) as resp:
            headers = {k.lower(): v for k, v in resp.headers.items()}
            return feedparser.parse(resp.read(), response_headers=headers)

    expected = {
        "demo-caspian-en": ("rss20", 6),
        "demo-caspian-az": ("atom10", 4),
        "demo-silkroad-wire": ("rss20", 3),
        "demo-vestnik-ru": ("rss20", 4),
        "demo-region-ru-cp1251": ("rss20", 2),
    }
    for name, (version, count) in expected.items():
        parsed = parse(name)
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
        assert (parsed.version, len(parsed.entries)) == (version, count), name
        for entry in parsed.entries:
            assert entry.title and entry.link.startswith(site.base_url + "/")
            assert entry.get("published_parsed"), (name, entry.link)
    az = parse("demo-caspian-az").entries
    assert "Səhiyyə naziri Türkiyə nümayəndə heyəti ilə görüşüb" in [e.title for e in az]
    az_text = " ".join(e.title + " " + e.summary for e in az)
    assert all(ch in az_text for ch in "əğıöüşçÇ")

    broken = parse("demo-kafkas-tr")  # not well-formed, yet read leniently
    assert broken.bozo
    assert len(broken.entries) == 2
    assert all(e.link.startswith(site.base_url + "/kafkas/") for e in broken.entries)

    portal = parse("demo-health-portal")  # an HTML page, not a feed
    assert portal.bozo
    assert portal.entries == []


def test_the_missing_article_is_in_the_feed_with_its_full_text(site: DemoSite) -> None:
    parsed = feedparser.parse(request(site, "/feeds/en.xml").body)
    (entry,) = [e for e in parsed.entries if e.link.endswith(MISSING_ARTICLE)]
    text = lxml.html.fromstring(entry.content[0].value).text_content()
    assert len(text.split()) >= 150
    assert request(site, MISSING_ARTICLE).status == 404


def test_one_story_reached_through_two_feeds(site: DemoSite) -> None:
    en = [e.link for e in feedparser.parse(request(site, "/feeds/en.xml").body).entries]
    wire = [e.link for e in feedparser.parse(request(site, "/feeds/wire.xml").body).entries]
    assert site.url(TURKIYE) in en
    (tracked,) = [link for link in wire if urlsplit(link).path == TURKIYE]
    assert tracked != site.url(TURKIYE)
    assert "utm_source=" in urlsplit(tracked).query
    assert request(site, urlsplit(tracked).path + "?" + urlsplit(tracked).query).status == 200


def article_paragraphs(body: bytes) -> tuple[str, list[str]]:
    doc = lxml.html.fromstring(body)
    title = doc.findtext(".//h1")
    return title, [p.text_content() for p in doc.cssselect("article p")]


def test_the_reprint_is_a_near_duplicate(site: DemoSite) -> None:
    title1, paras1 = article_paragraphs(request(site, CARDIO).body)
    title2, paras2 = article_paragraphs(request(site, REPRINT).body)
    assert title1 != title2
    assert len(paras1) == len(paras2)
    changed = [i for i, (a, b) in enumerate(zip(paras1, paras2, strict=True)) if a != b]
    assert len(changed) == 1
    sentences1 = re.split(r"(?<=\.) ", paras1[changed[0]])
    sentences2 = re.split(r"(?<=\.) ", paras2[changed[0]])
    assert sum(a != b for a, b in zip(sentences1, sentences2, strict=True)) == 1

    def shingles(paras: list[str]) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", " ".join(paras).lower())
        return {tuple(words[i : i + 5]) for i in range(len(words) - 4)}

    one, two = shingles(paras1), shingles(paras2)
    assert 0.85 <= len(one & two) / len(one | two) < 1


# --------------------------------------------------------------------------- HTTP behaviour


def test_conditional_get(site: DemoSite) -> None:
    first = request(site, "/feeds/en.xml")
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    again = request(site, "/feeds/en.xml", {"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == etag

    assert request(site, "/feeds/en.xml", {"If-Modified-Since": modified}).status == 304
    assert request(site, "/feeds/en.xml", {"If-None-Match": f'"x", W/{etag}'}).status == 304
    assert request(site, "/feeds/en.xml", {"If-None-Match": '"other"'}).status == 200
    # If-None-Match wins over If-Modified-Since
    both = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert request(site, "/feeds/en.xml", both).status == 200
    old = formatdate(0, usegmt=True)
    assert request(site, "/feeds/en.xml", {"If-Modified-Since": old}).status == 200
    assert request(site, "/feeds/en.xml", {"If-Modified-Since": "garbage"}).status == 200


def test_etag_depends_on_the_served_bytes() -> None:
    with DemoSite() as one, DemoSite() as two:
        assert (
            request(one, "/feeds/en.xml").headers["etag"]
            != request(two, "/feeds/en.xml").headers["etag"]
        )
        # a binary-safe file without the placeholder is the same everywhere
        assert (
            request(one, "/static/logo.svg").headers["etag"]
            == request(two, "/static/logo.svg").headers["etag"]
        )


def test_head_sends_headers_only(site: DemoSite) -> None:
    full = request(site, "/feeds/ru.xml")
    head = request(site, "/feeds/ru.xml", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(full.body))


def test_unknown_method_is_refused(site: DemoSite) -> None:
    assert request(site, "/feeds/en.xml", method="POST").status == 501


@pytest.mark.parametrize(
    "path",
    [
        "/../server.py",
        "/../../pyproject.toml",
        "/%2e%2e/server.py",
        "/%2E%2E/%2e%2e/pyproject.toml",
        "/..%2fserver.py",
        "/feeds/..%2f..%2fserver.py",
        "/feeds/%2e%2e/%2e%2e/__init__.py",
        "/..%5cserver.py",
        "/feeds/en.xml%00.html",
        "/_redirects",
        "/.hidden",
        "//etc/passwd",
        "/news/en/2026/11/no-such-article.html",
    ],
)
def test_nothing_outside_the_site_is_served(site: DemoSite, path: str) -> None:
    reply = request(site, path)
    assert reply.status == 404
    assert b"import" not in reply.body
    assert b"[project]" not in reply.body


def test_a_custom_root_is_confined(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "feeds").mkdir(parents=True)
    (root / "feeds" / "a.xml").write_text('<rss version="2.0"><channel/></rss>', "utf-8")
    (tmp_path / "secret.txt").write_text("secret", "utf-8")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    (root / "_redirects").write_text("/a.xml /feeds/a.xml 308\n", "utf-8")
    with DemoSite(root) as demo:
        assert request(demo, "/feeds/a.xml").status == 200
        assert (
            request(demo, "/feeds/a.xml").headers["content-type"].startswith("application/rss+xml")
        )
        assert request(demo, "/../secret.txt").status == 404
        assert request(demo, "/link.txt").status == 404  # a symlink leading outside
        moved = request(demo, "/a.xml")
        assert (moved.status, moved.headers["location"]) == (308, demo.url("/feeds/a.xml"))


def test_a_bad_redirects_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "_redirects").write_text("/a /b\n", "utf-8")
    with pytest.raises(ValueError, match="FROM TO STATUS"), DemoSite(tmp_path):
        pass


def test_the_old_feed_url_redirects_permanently(site: DemoSite) -> None:
    moved = request(site, "/old-feed.xml")
    assert moved.status == 301
    assert moved.headers["location"] == site.url("/feeds/en.xml")
    with urllib.request.urlopen(site.url("/old-feed.xml"), timeout=10) as resp:
        assert resp.url == site.url("/feeds/en.xml")
        assert resp.read() == request(site, "/feeds/en.xml").body
    caspian = [s for s in site.sources() if s.name == "demo-caspian-en"]
    assert caspian[0].url == site.url("/old-feed.xml")


def test_windows_1251_is_really_windows_1251(site: DemoSite) -> None:
    feed = request(site, "/feeds/ru-region.xml")
    assert feed.headers["content-type"] == "application/rss+xml; charset=windows-1251"
    assert feed.body.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    with pytest.raises(UnicodeDecodeError):
        feed.body.decode("utf-8")
    text = feed.body.decode("cp1251")
    assert "Азербайджан направил в Узбекистан" in text
    assert "Азербайджан".encode("cp1251") in feed.body

    links = [e.link for e in feedparser.parse(feed.body).entries]
    assert len(links) == 2
    for link in links:
        page = request(site, local_path(site, link))
        assert page.headers["content-type"] == "text/html; charset=windows-1251"
        assert b'charset=windows-1251"' in page.body[:500]
        with pytest.raises(UnicodeDecodeError):
            page.body.decode("utf-8")
        assert "Здравоохранение" in page.body.decode("cp1251")


def test_content_types(site: DemoSite) -> None:
    expected = {
        "/": "text/html; charset=utf-8",
        "/robots.txt": "text/plain; charset=utf-8",
        "/static/demo.css": "text/css; charset=utf-8",
        "/static/photo.svg": "image/svg+xml; charset=utf-8",
        CARDIO: "text/html; charset=utf-8",
    }
    for path, content_type in expected.items():
        assert request(site, path).headers["content-type"] == content_type, path


# --------------------------------------------------------------------------- the site's links

_LINK_RE = re.compile(r"""(?:href|src)="([^"]+)"|<(?:link|loc)>([^<]+)</(?:link|loc)>""")


def test_every_link_points_to_a_served_file(site: DemoSite) -> None:
    """Crawl every file: links stay on the site and lead to files, save the one missing page."""
    checked: dict[str, int] = {}
    for path in site_files(site):
        reply = request(site, path)
        assert reply.status == 200, path
        text = reply.body.decode(
            "cp1251" if "windows-1251" in reply.headers["content-type"] else "utf-8"
        )
        assert "{{BASE}}" not in text
        for match in _LINK_RE.finditer(text):
            link = (match.group(1) or match.group(2)).strip().replace("&amp;", "&")
            if link.startswith(("#", "mailto:")):
                continue
            url = urljoin(site.url(path), link)
            if url.startswith("https://schema.org"):
                continue
            assert url.startswith(site.base_url + "/"), f"{path} links outside the site: {link}"
            target = urlsplit(url).path
            if target not in checked:
                checked[target] = request(site, target, method="HEAD").status
            expected = 404 if target == MISSING_ARTICLE else 200
            if target == "/old-feed.xml":
                expected = 301
            assert checked[target] == expected, f"{path} -> {link}"
    assert checked[MISSING_ARTICLE] == 404
    assert len(checked) > 40


def test_every_source_links_only_to_existing_articles(
    site: DemoSite, specs: dict[str, SourceSpec]
) -> None:
    found: set[str] = set()
    for spec in specs.values():
        with urllib.request.urlopen(spec.url, timeout=10) as resp:
            body = resp.read()
        if spec.kind == "feed":
            found |= {local_path(site, e.link) for e in feedparser.parse(body).entries}
        elif spec.kind == "page":
            doc = lxml.html.fromstring(body)
            links = [a.get("href") for a in doc.cssselect(spec.link_selector)]
            assert len(links) == 3
            found |= {local_path(site, link) for link in links}
        else:
            locs = re.findall(rb"<loc>([^<]+)</loc>", body)
            assert len(locs) == 2
            found |= {local_path(site, loc.decode()) for loc in locs}
    assert MISSING_ARTICLE in found
    for path in found - {MISSING_ARTICLE}:
        assert request(site, path).status == 200, path
    assert len(found) == 25  # 24 article pages and the missing one


# --------------------------------------------------------------------------- article pages


def article_pages(site: DemoSite) -> list[str]:
    return [
        p
        for p in site_files(site)
        if p.endswith(".html") and not p.endswith("index.html") and not p.startswith("/feeds/")
    ]


def test_article_pages_are_complete_documents(site: DemoSite) -> None:
    pages = article_pages(site)
    assert len(pages) == 24
    languages = set()
    for path in pages:
        reply = request(site, path)
        charset = reply.headers["content-type"].split("charset=")[1]
        doc = lxml.html.fromstring(reply.body.decode(charset))
        lang = doc.get("lang")
        languages.add(lang)
        assert doc.findtext(".//title"), path
        for meta in ("description", "date", "author"):
            assert doc.cssselect(f'meta[name="{meta}"]')[0].get("content"), (path, meta)
        canonical = doc.cssselect('link[rel="canonical"]')[0].get("href")
        assert canonical == site.url(path)
        assert doc.cssselect("footer"), path
        assert doc.cssselect("nav a[href]"), path  # a menu
        assert len(doc.cssselect("article")) == 1, path
        words = sum(len(p.text_content().split()) for p in doc.cssselect("article p"))
        assert 150 <= words <= 400, (path, words)
    assert languages == {"en", "az", "ru", "tr"}
