"""The source parsers on hand-written feeds, listing pages and sitemaps."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError, SourceError
from monitor.sources import language_code, parse_iso_datetime, parse_source
from monitor.sources import sitemap as sitemap_module
from monitor.sources.feed import html_to_text, parse_feed
from monitor.sources.page import looks_like_article, parse_page
from monitor.sources.sitemap import parse_sitemap
from monitor.types import ParsedSource

AZ_TITLE = "Səhiyyə Nazirliyi: uşaqların peyvəndlənməsi başlayır"
RU_TITLE = "Минздрав: вакцинация детей начинается"
RSS_TYPE = {"content-type": "application/rss+xml; charset=utf-8"}
ATOM_TYPE = {"content-type": "application/atom+xml"}


def _all_text(parsed: ParsedSource) -> str:
    return " ".join(
        f"{e.url} {e.guid} {e.title} {e.summary} {e.content} {e.author}" for e in parsed.entries
    ) + " " + parsed.title


# --------------------------------------------------------------------------- RSS 2.0

RSS20 = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Nazirlik xəbərləri</title>
  <link>https://sehiyye.example.az/</link>
  <language>az-AZ</language>
  <item>
    <title>{AZ_TITLE}</title>
    <link>/az/news/2024/05/peyvend</link>
    <guid isPermaLink="false">news-1001</guid>
    <description>&lt;p&gt;Qısa &lt;b&gt;xülasə&lt;/b&gt;&lt;/p&gt;
      &lt;p&gt;ikinci&lt;/p&gt;</description>
    <content:encoded><![CDATA[<p>Tam mətn: {AZ_TITLE}. Uzun məzmun burada.</p>]]></content:encoded>
    <pubDate>Mon, 06 May 2024 14:30:00 +0400</pubDate>
    <author>press@sehiyye.example.az (Mətbuat xidməti)</author>
  </item>
  <item>
    <title>{RU_TITLE}</title>
    <link>https://sehiyye.example.az/ru/news/1002</link>
    <description>Текст без разметки</description>
    <pubDate>Tue, 07 May 2024 08:00:00 GMT</pubDate>
  </item>
  <item><title>Script link</title><link>javascript:alert(1)</link></item>
  <item><title>Mail link</title><link>mailto:press@example.az</link></item>
  <item><title>No link at all</title><description>orphan</description></item>
</channel>
</rss>
""".encode()


def test_rss20_entries_fields_and_skips() -> None:
    parsed = parse_feed(RSS20, RSS_TYPE, base_url="https://sehiyye.example.az/az/rss.xml")
    assert parsed.title == "Nazirlik xəbərləri"
    first, second = parsed.entries
    assert first.url == "https://sehiyye.example.az/az/news/2024/05/peyvend"  # relative resolved
    assert first.guid == "news-1001"
    assert first.title == AZ_TITLE
    assert first.summary == "Qısa xülasə ikinci"  # tags stripped, blocks spaced
    assert first.content.startswith("<p>Tam mətn:") and AZ_TITLE in first.content
    assert first.published == datetime(2024, 5, 6, 10, 30, tzinfo=UTC)
    assert first.published.utcoffset() is not None
    assert first.author == "Mətbuat xidməti"
    assert first.language == "az"
    assert second.title == RU_TITLE
    assert second.guid == second.url == "https://sehiyye.example.az/ru/news/1002"
    assert second.content == second.summary == "Текст без разметки"
    assert second.published == datetime(2024, 5, 7, 8, 0, tzinfo=UTC)
    skipped = " | ".join(parsed.warnings)
    assert "javascript:alert(1)" in skipped and "mailto:" in skipped
    assert "no link and no http(s) id" in skipped and "No link at all" in skipped
    assert len(parsed.warnings) == 3


def test_rss_in_windows_1251_declared_by_the_header_only() -> None:
    body = f"""<rss version="2.0"><channel><title>Лента</title><item><title>{RU_TITLE}</title>
    <link>http://minzdrav.example.ru/news/1</link></item></channel></rss>""".encode("cp1251")
    parsed = parse_feed(
        body, {"content-type": "application/rss+xml; charset=windows-1251"},
        base_url="http://minzdrav.example.ru/rss",
    )
    assert [e.title for e in parsed.entries] == [RU_TITLE]
    assert parsed.title == "Лента"


def test_content_location_and_content_language_headers_are_used() -> None:
    body = b"""<rss version="2.0"><channel><item><title>t</title><link>item/7</link></item>
    </channel></rss>"""
    parsed = parse_feed(
        body,
        {"content-type": "text/xml", "content-location": "/feeds/ru/", "content-language": "ru"},
        base_url="https://example.org/rss",
    )
    (entry,) = parsed.entries
    assert entry.url == "https://example.org/feeds/ru/item/7"
    assert entry.language == "ru"


def test_entry_cap_keeps_the_first_thousand_with_a_warning() -> None:
    items = "".join(
        f"<item><title>n{i}</title><link>http://e.org/n/{i}</link></item>" for i in range(1005)
    )
    body = f'<rss version="2.0"><channel>{items}</channel></rss>'.encode()
    parsed = parse_feed(body, RSS_TYPE, base_url="http://e.org/rss")
    assert len(parsed.entries) == 1000
    assert parsed.entries[-1].url == "http://e.org/n/999"
    assert any("1005 entries" in w for w in parsed.warnings)


# --------------------------------------------------------------------------- Atom, RSS 1.0

ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en" xml:base="https://who.example.int/news/">
  <title type="html">WHO &lt;em&gt;Europe&lt;/em&gt;</title>
  <id>urn:feed</id>
  <entry xml:lang="ru">
    <title>{RU_TITLE}</title>
    <link rel="alternate" href="2024/ru-vaccination"/>
    <id>tag:who.example.int,2024:1</id>
    <updated>2024-05-06T23:30:00-02:00</updated>
    <author><name>Анна Петрова</name></author>
    <summary type="html">&lt;p&gt;Кратко&lt;/p&gt;</summary>
    <content type="html">&lt;p&gt;Полный текст, гораздо длиннее краткого.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Only an id</title>
    <id>https://who.example.int/news/item/42</id>
    <published>2024-05-01T00:00:00Z</published>
    <updated>2024-05-03T00:00:00Z</updated>
  </entry>
  <entry><title>Nothing usable</title><id>urn:uuid:1234</id></entry>
</feed>
""".encode()


def test_atom_entries_xml_base_dates_language_and_id_fallback() -> None:
    parsed = parse_feed(ATOM, ATOM_TYPE, base_url="https://who.example.int/feed.atom")
    assert parsed.title == "WHO Europe"
    first, second = parsed.entries
    assert first.url == "https://who.example.int/news/2024/ru-vaccination"
    assert first.guid == "tag:who.example.int,2024:1"
    assert first.title == RU_TITLE
    assert first.published == datetime(2024, 5, 7, 1, 30, tzinfo=UTC)  # updated, to UTC
    assert first.author == "Анна Петрова"
    assert first.language == "ru"
    assert first.summary == "Кратко"
    assert "Полный текст" in first.content
    assert second.url == second.guid == "https://who.example.int/news/item/42"
    assert second.published == datetime(2024, 5, 1, tzinfo=UTC)  # published wins over updated
    assert second.language == "en"
    assert len(parsed.warnings) == 1 and "Nothing usable" in parsed.warnings[0]


RSS10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="http://ecdc.example.eu/"><title>ECDC</title>
    <link>http://ecdc.example.eu/</link><description>d</description></channel>
  <item rdf:about="http://ecdc.example.eu/news/measles">
    <title>Measles update</title><link>http://ecdc.example.eu/news/measles</link>
    <description>Cases &lt;i&gt;rise&lt;/i&gt;</description>
    <dc:date>2024-03-10T12:00:00+01:00</dc:date><dc:creator>ECDC press</dc:creator>
    <dc:language>en-GB</dc:language>
  </item>
</rdf:RDF>"""


def test_rss10_rdf() -> None:
    parsed = parse_feed(RSS10, {"content-type": "application/rdf+xml"}, base_url="http://x.eu/")
    (entry,) = parsed.entries
    assert parsed.title == "ECDC"
    assert entry.url == "http://ecdc.example.eu/news/measles"
    assert entry.title == "Measles update"
    assert entry.summary == "Cases rise"
    assert entry.published == datetime(2024, 3, 10, 11, 0, tzinfo=UTC)
    assert entry.author == "ECDC press"
    assert parsed.warnings == ()


# --------------------------------------------------------------------------- JSON Feed


def _json_feed(**extra: object) -> dict[str, object]:
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Nazirlik",
        "language": "az",
        "authors": [{"name": "Mətbuat"}],
        "items": [
            {
                "id": "a1",
                "url": "/az/xeber/1",
                "title": AZ_TITLE,
                "summary": "Qısa",
                "content_html": '<p onclick="x()">Mətn</p><script>alert(1)</script>',
                "date_published": "2024-05-06T14:30:00+04:00",
            },
            {
                "id": 2,
                "external_url": "https://other.example.org/story",
                "title": RU_TITLE,
                "content_text": "Простой текст",
                "date_modified": "2024-05-07T08:00:00Z",
                "authors": [{"url": "x"}, {"name": "Иван"}],
                "language": "ru-RU",
            },
            {"id": "https://sehiyye.example.az/only-id", "content_text": "t"},
            {"id": "no-url", "content_text": "t"},
            "not an object",
        ],
        **extra,
    }


def test_json_feed_by_content_type() -> None:
    body = json.dumps(_json_feed()).encode()
    parsed = parse_feed(
        body, {"content-type": "application/feed+json"}, base_url="https://sehiyye.example.az/f"
    )
    assert parsed.title == "Nazirlik"
    first, second, third = parsed.entries
    assert first.url == "https://sehiyye.example.az/az/xeber/1"
    assert first.guid == "a1" and first.title == AZ_TITLE and first.summary == "Qısa"
    assert "Mətn" in first.content
    assert "script" not in first.content and "onclick" not in first.content
    assert first.published == datetime(2024, 5, 6, 10, 30, tzinfo=UTC)
    assert first.author == "Mətbuat" and first.language == "az"
    assert second.url == "https://other.example.org/story" and second.guid == "2"
    assert second.content == "Простой текст" and second.author == "Иван"
    assert second.language == "ru"
    assert second.published == datetime(2024, 5, 7, 8, 0, tzinfo=UTC)
    assert third.url == third.guid == "https://sehiyye.example.az/only-id"
    assert len(parsed.warnings) == 2
    assert any("item 4" in w for w in parsed.warnings)
    assert any("item 5" in w and "not an object" in w for w in parsed.warnings)


def test_json_feed_sniffed_without_content_type() -> None:
    feed = _json_feed(version="https://jsonfeed.org/version/1")
    parsed = parse_feed(json.dumps(feed).encode("utf-8-sig"), {}, base_url="https://e.az/f")
    assert len(parsed.entries) == 3


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b'{"title": "x", "items": []}', {}, "jsonfeed.org"),
        (b"[1, 2]", {"content-type": "application/json"}, "top level is a list"),
        (b'{"items": ', {"content-type": "application/feed+json"}, "not valid JSON"),
        (b"hello", {"content-type": "application/feed+json"}, "not JSON"),
        (b'{"version": "https://jsonfeed.org/version/1"}', {}, "items"),
    ],
)
def test_json_that_is_no_json_feed(body: bytes, headers: dict[str, str], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(body, headers, base_url="https://e.org/")


# --------------------------------------------------------------------------- broken feeds


def test_bozo_feed_with_undeclared_entity_keeps_entries_and_warns() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>One&nbsp;two</title><link>http://e.org/1</link></item>
    <item><title>Three</title><link>http://e.org/2</link></item></channel></rss>"""
    parsed = parse_feed(body, RSS_TYPE, base_url="http://e.org/rss")
    assert [e.url for e in parsed.entries] == ["http://e.org/1", "http://e.org/2"]
    assert parsed.entries[0].title == "One two"  # the HTML entity read by the loose parser
    assert len(parsed.warnings) == 1
    assert "SAXParseException" in parsed.warnings[0] and "undefined entity" in parsed.warnings[0]


def test_truncated_feed_yields_what_it_can() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>Whole</title><link>http://e.org/1</link></item>
    <item><title>Half</title><link>http://e.org/2</link></item><item><title>Cut of"""
    parsed = parse_feed(body, RSS_TYPE, base_url="http://e.org/rss")
    assert [e.url for e in parsed.entries][:2] == ["http://e.org/1", "http://e.org/2"]
    assert any(w.startswith("feed is not well-formed") for w in parsed.warnings)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x00\x01\x02 binary garbage \xff\xfe", "no RSS, Atom or JSON Feed"),
        (b"just some words, no markup", "no RSS, Atom or JSON Feed"),
        (b"<!DOCTYPE html><html><head><title>Ministry</title></head>"
         b"<body><a href='/news/1'>n</a></body></html>", "HTML page"),
        (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://e.org/'
         b"</loc></url></urlset>", "sitemap"),
    ],
)
def test_bytes_that_are_no_feed_raise_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(body, {"content-type": "text/html"}, base_url="http://e.org/")


def test_feed_external_entity_is_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    for target in (secret.as_uri(), "file:///etc/passwd"):
        body = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{target}">]>
<rss version="2.0"><channel><title>t &xxe;</title>
<item><title>a &xxe; b</title><link>http://e.org/1</link><description>&xxe;</description>
</item></channel></rss>""".encode()
        parsed = parse_feed(body, RSS_TYPE, base_url="http://e.org/rss")
        text = _all_text(parsed)
        assert [e.url for e in parsed.entries] == ["http://e.org/1"]
        assert "TOP-SECRET-MARKER" not in text and "root:" not in text


def _laughs(root_open: str, root_close: str, inner: str) -> bytes:
    entities = '<!ENTITY l0 "LOL">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    return f"""<?xml version="1.0"?><!DOCTYPE x [{entities}]>
{root_open}{inner}{root_close}""".encode()


def test_billion_laughs_is_not_expanded() -> None:
    feed = _laughs(
        '<rss version="2.0"><channel>', "</channel></rss>",
        "<item><title>&l9;</title><link>http://e.org/1</link></item>",
    )
    parsed = parse_feed(feed, RSS_TYPE, base_url="http://e.org/rss")
    assert _urls(parsed) == ["http://e.org/1"]
    assert "LOLLOL" not in _all_text(parsed) and len(_all_text(parsed)) < 10_000
    sitemap = _laughs(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">', "</urlset>",
        "<url><loc>https://e.org/a&l9;</loc></url>",
    )
    assert _urls(parse_sitemap(sitemap, {}, base_url="https://e.org/s.xml")) == ["https://e.org/a"]


def test_html_to_text() -> None:
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a b c"
    assert html_to_text("x <b>bold</b>&amp;<i>it</i><script>bad()</script><!-- c -->") == (
        "x bold&it"
    )
    assert html_to_text("  plain\n text ") == "plain text"


# --------------------------------------------------------------------------- pages

PAGE = """<!DOCTYPE html>
<html lang="az"><head><meta charset="utf-8"><title>Xəbərlər</title></head><body>
<header><a href="/">Ana səhifə</a><a href="/az/news/2024/logo-link">logo</a></header>
<nav><a href="/az/about">Haqqımızda</a><a href="/az/news/2024/in-nav">nav</a></nav>
<main>
  <ul class="news">
    <li><a href="/az/news/2024/05/peyvend#top"><img src="i.jpg" alt="şəkil"></a>
        <a href="/az/news/2024/05/peyvend">  {az}
        </a></li>
    <li><a href="xeber/1234">Rəqəmli xəbər</a></li>
    <li><a href="https://sehiyye.example.az/az/news/2024/05/ikinci">İkinci</a></li>
  </ul>
  <article><header>
    <a href="/az/umumi-saglamliq-gunu-qeyd-olundu">Slug article</a>
  </header></article>
  <a href="/az/news">All news</a>
  <a href="/az/tags/covid/page">tag</a>
  <a href="/az/search?q=x">search</a>
  <a href="/az/files/2024/report.pdf">report.pdf</a>
  <a href="https://twitter.com/x/status/123456">tweet</a>
  <a href="javascript:void(0)">js</a> <a href="mailto:a@b.az">mail</a>
  <a href="#section">here</a> <a href="/az/xeberler">self</a>
</main>
<footer><a href="/az/privacy/policy-2024">privacy</a></footer>
</body></html>""".replace("{az}", AZ_TITLE).encode()
PAGE_URL = "https://sehiyye.example.az/az/xeberler"


def _urls(parsed: ParsedSource) -> list[str]:
    return [e.url for e in parsed.entries]


def test_page_heuristic_picks_article_links_in_order() -> None:
    parsed = parse_page(PAGE, {"content-type": "text/html"}, base_url=PAGE_URL)
    assert _urls(parsed) == [
        "https://sehiyye.example.az/az/news/2024/05/peyvend",
        "https://sehiyye.example.az/az/xeber/1234",
        "https://sehiyye.example.az/az/news/2024/05/ikinci",
        "https://sehiyye.example.az/az/umumi-saglamliq-gunu-qeyd-olundu",
    ]
    first = parsed.entries[0]
    assert first.title == "şəkil"  # the first link's image alt; the text link came later
    assert first.guid == first.url and first.language == "az"
    assert parsed.entries[1].title == "Rəqəmli xəbər"
    assert parsed.title == "Xəbərlər"


def test_page_selector_on_a_container_and_on_anchors() -> None:
    parsed = parse_page(PAGE, {}, base_url=PAGE_URL, link_selector="ul.news")
    assert len(parsed.entries) == 3
    assert parsed.entries[0].url.endswith("/peyvend")
    parsed = parse_page(PAGE, {}, base_url=PAGE_URL, link_selector="nav a, footer a")
    assert _urls(parsed) == [
        "https://sehiyye.example.az/az/about",
        "https://sehiyye.example.az/az/news/2024/in-nav",
        "https://sehiyye.example.az/az/privacy/policy-2024",
    ]


def test_page_pattern_and_pattern_with_selector() -> None:
    parsed = parse_page(PAGE, {}, base_url=PAGE_URL, link_pattern=r"/news/2024/")
    assert _urls(parsed) == [
        "https://sehiyye.example.az/az/news/2024/logo-link",
        "https://sehiyye.example.az/az/news/2024/in-nav",
        "https://sehiyye.example.az/az/news/2024/05/peyvend",
        "https://sehiyye.example.az/az/news/2024/05/ikinci",
    ]
    both = parse_page(PAGE, {}, base_url=PAGE_URL, link_selector="main", link_pattern=r"\d{4}")
    assert _urls(both) == [
        "https://sehiyye.example.az/az/news/2024/05/peyvend",
        "https://sehiyye.example.az/az/xeber/1234",
        "https://sehiyye.example.az/az/news/2024/05/ikinci",
        "https://sehiyye.example.az/az/files/2024/report.pdf",
        "https://twitter.com/x/status/123456",
    ]


def test_page_selector_that_matches_nothing_warns() -> None:
    parsed = parse_page(PAGE, {}, base_url=PAGE_URL, link_selector="div.gone a")
    assert parsed.entries == ()
    assert any("layout changed" in w for w in parsed.warnings)


def test_page_base_href_is_respected() -> None:
    body = b"""<html><head><base href="https://cdn.example.org/site/ru/"></head><body>
    <a href="novosti/2024/1">One</a><a href="../en/news/2">Two</a></body></html>"""
    parsed = parse_page(body, {}, base_url="https://cdn.example.org/list", link_pattern="news|nov")
    assert _urls(parsed) == [
        "https://cdn.example.org/site/ru/novosti/2024/1",
        "https://cdn.example.org/site/en/news/2",
    ]


def test_page_in_windows_1251_by_meta_and_by_header() -> None:
    html = f"""<html><head>
    <meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
    <title>Новости</title></head><body><a href="/ru/news/77">{RU_TITLE}</a></body></html>"""
    body = html.encode("cp1251")
    by_meta = parse_page(body, {"content-type": "text/html"}, base_url="http://m.example.ru/ru/")
    assert [e.title for e in by_meta.entries] == [RU_TITLE]
    assert by_meta.title == "Новости"
    no_meta = html.replace("; charset=windows-1251", "").encode("cp1251")
    by_header = parse_page(
        no_meta, {"content-type": "text/html; charset=windows-1251"}, base_url="http://m.ru/ru/"
    )
    assert [e.title for e in by_header.entries] == [RU_TITLE]


def test_page_undeclared_non_utf8_falls_back_without_failing() -> None:
    body = "<html><body><a href='/news/2024/x'>caf\u00e9</a></body></html>".encode("latin-1")
    parsed = parse_page(body, {}, base_url="http://e.org/")
    assert [e.title for e in parsed.entries] == ["café"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3", "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b"plain words and nothing else", "no HTML tags"),
        (b'{"items": []}', "no HTML tags"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>',
         'kind = "feed"'),
        (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>', "sitemap"),
    ],
)
def test_bytes_that_are_no_html_raise_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_page(body, {}, base_url="http://e.org/")


def test_bad_selector_or_pattern_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="link_selector"):
        parse_page(PAGE, {}, base_url=PAGE_URL, link_selector="ul[[")
    with pytest.raises(SourceError, match="link_pattern"):
        parse_page(PAGE, {}, base_url=PAGE_URL, link_pattern="(unclosed")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://moh.gov.az/az/news/2024/05/title", True),
        ("https://www.moh.gov.az/news/12345", True),
        ("https://moh.gov.az/news.php?id=4567", True),
        ("https://moh.gov.az/a-long-slug-about-vaccines", True),
        ("https://moh.gov.az/ru/news", False),  # a section, after the language prefix
        ("https://moh.gov.az/", False),
        ("https://moh.gov.az/en/about/structure", False),
        ("https://moh.gov.az/en/contact", False),
        ("https://moh.gov.az/tags/health-care", False),
        ("https://moh.gov.az/category/news/2024", False),
        ("https://moh.gov.az/user/login", False),
        ("https://moh.gov.az/docs/2024/report.pdf", False),
        ("https://moh.gov.az/media/2024/photo.JPG", False),
        ("https://other.org/news/2024/05/title", False),
        ("https://moh.gov.az/news/page/2", False),
    ],
)
def test_article_heuristic(url: str, expected: bool) -> None:
    assert looks_like_article(url, "https://moh.gov.az/az/xeberler") is expected


# --------------------------------------------------------------------------- sitemaps

SITEMAP = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc>https://sehiyye.example.az/az/news/1</loc>
    <lastmod>2024-05-01</lastmod>
    <news:news>
      <news:publication><news:name>Səhiyyə Nazirliyi</news:name>
        <news:language>az</news:language></news:publication>
      <news:publication_date>2024-05-06T14:30:00+04:00</news:publication_date>
      <news:title>{AZ_TITLE}</news:title>
    </news:news>
  </url>
  <url>
    <loc>/ru/news/2</loc>
    <lastmod>2024-05-07T08:00:00Z</lastmod>
    <news:news><news:publication><news:name>x</news:name><news:language>ru</news:language>
    </news:publication><news:title>{RU_TITLE}</news:title></news:news>
  </url>
  <url><loc>https://sehiyye.example.az/plain</loc><lastmod>2024-05</lastmod></url>
  <url><loc>https://sehiyye.example.az/nodate</loc><lastmod>yesterday</lastmod></url>
  <url><loc>ftp://sehiyye.example.az/file</loc></url>
  <url><lastmod>2024-01-01</lastmod></url>
</urlset>
""".encode()


def _check_sitemap(parsed: ParsedSource) -> None:
    assert parsed.title == "Səhiyyə Nazirliyi"
    first, second, third, fourth = parsed.entries
    assert first.url == first.guid == "https://sehiyye.example.az/az/news/1"
    assert first.title == AZ_TITLE and first.language == "az"
    assert first.published == datetime(2024, 5, 6, 10, 30, tzinfo=UTC)  # news date over lastmod
    assert second.url == "https://sehiyye.example.az/ru/news/2"
    assert second.title == RU_TITLE and second.language == "ru"
    assert second.published == datetime(2024, 5, 7, 8, 0, tzinfo=UTC)
    assert third.published == datetime(2024, 5, 1, tzinfo=UTC) and third.title == ""
    assert fourth.published is None
    warnings = " | ".join(parsed.warnings)
    assert "ftp://" in warnings and "no <loc>" in warnings and "1 unreadable date" in warnings


def test_sitemap_plain() -> None:
    _check_sitemap(parse_sitemap(SITEMAP, {}, base_url="https://sehiyye.example.az/sitemap.xml"))


def test_sitemap_gzipped() -> None:
    parsed = parse_sitemap(
        gzip.compress(SITEMAP), {"content-type": "application/x-gzip"},
        base_url="https://sehiyye.example.az/sitemap.xml.gz",
    )
    _check_sitemap(parsed)


def test_sitemap_gzip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sitemap_module, "MAX_DECOMPRESSED", 10_000)
    body = gzip.compress(b"<urlset>" + b" " * 20_000 + b"</urlset>")
    with pytest.raises(ParseError, match="larger than 10000 bytes"):
        parse_sitemap(body, {}, base_url="https://e.org/s.xml.gz")


def test_sitemap_truncated_gzip_and_broken_xml_are_recovered_with_warnings() -> None:
    body = gzip.compress(SITEMAP)[:-60]
    parsed = parse_sitemap(body, {}, base_url="https://sehiyye.example.az/s.xml.gz")
    assert parsed.entries and parsed.entries[0].title == AZ_TITLE
    assert any("truncated" in w for w in parsed.warnings)
    assert any("not well-formed" in w for w in parsed.warnings)


def test_sitemap_index_is_refused_with_its_sitemaps() -> None:
    body = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://e.org/news-1.xml</loc></sitemap>
  <sitemap><loc>https://e.org/news-2.xml</loc></sitemap>
  <sitemap><loc>https://e.org/news-3.xml</loc></sitemap>
  <sitemap><loc>https://e.org/news-4.xml</loc></sitemap>
</sitemapindex>"""
    with pytest.raises(ParseError, match="sitemap index") as caught:
        parse_sitemap(body, {}, base_url="https://e.org/sitemap.xml")
    message = str(caught.value)
    assert "https://e.org/news-1.xml, https://e.org/news-2.xml, https://e.org/news-3.xml" in message
    assert "news-4" not in message and "4 sitemaps" in message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"not xml at all", "not XML"),
        (b"\x1f\x8b\x08\x00garbage", "broken gzip"),
        (b'<rss version="2.0"><channel/></rss>', 'kind = "feed"'),
        (b"<html><body><p>hi</p></body></html>", 'kind = "page"'),
    ],
)
def test_bytes_that_are_no_sitemap_raise_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_sitemap(body, {}, base_url="https://e.org/s.xml")


def test_sitemap_external_entity_is_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    for target in (secret.as_uri(), "file:///etc/passwd"):
        body = f"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "{target}"><!ENTITY inner "INNER">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://e.org/a&xxe;</loc><news:news><news:title>T &xxe; &inner;</news:title>
<news:publication><news:name>&xxe;</news:name></news:publication></news:news></url>
</urlset>""".encode()
        parsed = parse_sitemap(body, {}, base_url="https://e.org/s.xml")
        text = _all_text(parsed)
        assert "TOP-SECRET-MARKER" not in text and "root:" not in text and "INNER" not in text
        assert [e.url for e in parsed.entries] == ["https://e.org/a"]


def test_sitemap_over_the_cap_keeps_the_newest() -> None:
    urls = "".join(
        f"<url><loc>https://e.org/n/{i}</loc><lastmod>{2000 + i // 100}-01-01</lastmod></url>"
        for i in range(1100)
    )
    body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    parsed = parse_sitemap(body.encode(), {}, base_url="https://e.org/s.xml")
    assert len(parsed.entries) == 1000
    assert parsed.entries[0].published == datetime(2010, 1, 1, tzinfo=UTC)
    assert "https://e.org/n/0" not in _urls(parsed) and "https://e.org/n/1099" in _urls(parsed)
    assert any("kept the 1000 newest" in w for w in parsed.warnings)


# --------------------------------------------------------------------------- dispatcher, helpers


def test_parse_source_dispatches_on_kind() -> None:
    feed = parse_source("feed", RSS20, RSS_TYPE, base_url="https://sehiyye.example.az/rss")
    assert feed.entries[0].title == AZ_TITLE
    page = parse_source("page", PAGE, {}, base_url=PAGE_URL, link_selector="footer a")
    assert _urls(page) == ["https://sehiyye.example.az/az/privacy/policy-2024"]
    page = parse_source("page", PAGE, {}, base_url=PAGE_URL, link_pattern="twitter")
    assert _urls(page) == ["https://twitter.com/x/status/123456"]
    sitemap = parse_source("sitemap", SITEMAP, {}, base_url="https://sehiyye.example.az/s.xml")
    assert len(sitemap.entries) == 4
    with pytest.raises(ParseError):
        parse_source("sitemap", RSS20, RSS_TYPE, base_url="https://e.org/")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-06T14:30:00+04:00", datetime(2024, 5, 6, 10, 30, tzinfo=UTC)),
        ("2024-05-06T10:30:00Z", datetime(2024, 5, 6, 10, 30, tzinfo=UTC)),
        ("2024-05-06t10:30:00.123z", datetime(2024, 5, 6, 10, 30, 0, 123000, tzinfo=UTC)),
        ("2024-05-06T10:30:00", datetime(2024, 5, 6, 10, 30, tzinfo=UTC)),
        ("2024-05-06", datetime(2024, 5, 6, tzinfo=UTC)),
        ("2024-05", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
        ("yesterday", None),
        ("2024-13-01", None),
        ("", None),
    ],
)
def test_parse_iso_datetime(value: str, expected: datetime | None) -> None:
    assert parse_iso_datetime(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("en-US", "en"), ("AZ", "az"), ("ru_RU", "ru"), ("x", None), ("eng", None), (None, None)],
)
def test_language_code(value: object, expected: str | None) -> None:
    assert language_code(value) == expected
