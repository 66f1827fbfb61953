from __future__ import annotations

import gzip
import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trafilatura

from monitor.errors import ExtractionError
from monitor.extraction import (
    PageMetadata,
    article_from_entry,
    decode_html,
    detect_language,
    extract_article,
    html_to_text,
    language_scores,
    page_metadata,
)
from monitor.types import Article

# ---------------------------------------------------------------------------- helpers

PARAGRAPH = (
    "The Ministry of Health and the World Health Organization signed a new agreement on "
    "primary health care, vaccination and the training of nurses in rural districts. "
)


def page(body: str, *, lang: str = "en", head: str = "", charset: str = "utf-8") -> str:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="{charset}">{head}'
        f"</head><body>{body}</body></html>"
    )


def article_page(paragraphs: list[str], *, lang: str = "en", head: str = "") -> str:
    body = "<article>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article>"
    nav = "<nav><ul>" + "".join(f"<li><a href='/s{i}'>Section {i}</a></li>" for i in range(8))
    return page(nav + "</ul></nav>" + body + "<footer>© Ministry</footer>", lang=lang, head=head)


# ---------------------------------------------------------------------------- decode_html

RU = "Министерство здравоохранения подписало меморандум о сотрудничестве. " * 5


def test_decode_meta_charset_when_no_header() -> None:
    raw = page(f"<p>{RU}</p>", charset="windows-1251").encode("cp1251")
    assert RU in decode_html(raw, {})


def test_decode_http_charset_beats_meta() -> None:
    raw = page(f"<p>{RU}</p>", charset="utf-8").encode("koi8-r")
    text = decode_html(raw, {"content-type": "text/html; charset=KOI8-R"})
    assert RU in text


def test_decode_wrong_header_falls_back_to_meta() -> None:
    # the header claims UTF-8, the bytes are windows-1251 as the meta tag says
    raw = page(f"<p>{RU}</p>", charset="windows-1251").encode("cp1251")
    assert RU in decode_html(raw, {"Content-Type": "text/html; charset=utf-8"})


def test_decode_bom_wins() -> None:
    raw = b"\xef\xbb\xbf" + page("<p>Azərbaycan Səhiyyə Nazirliyi</p>").encode()
    text = decode_html(raw, {"content-type": "text/html; charset=iso-8859-1"})
    assert "Azərbaycan Səhiyyə Nazirliyi" in text
    assert not text.startswith("\ufeff")
    utf16 = "\ufeff<html><body><p>Sağlık Bakanlığı</p></body></html>".encode("utf-16-le")
    assert "Sağlık Bakanlığı" in decode_html(utf16, {})


def test_decode_latin1_label_means_windows_1252() -> None:
    raw = page("<p>\u201cquoted\u201d caf\u00e9</p>").encode("cp1252")
    text = decode_html(raw, {"content-type": "text/html; charset=ISO-8859-1"})
    assert "\u201cquoted\u201d caf\u00e9" in text


def test_decode_tolerates_a_stray_byte_in_declared_utf8() -> None:
    raw = page("<p>Azərbaycan \xe9 Səhiyyə</p>").encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
    text = decode_html(raw, {"content-type": "text/html; charset=utf-8"})
    assert "Azərbaycan \ufffd Səhiyyə" in text


def test_decode_xml_declaration_and_detection() -> None:
    xml = f'<?xml version="1.0" encoding="windows-1251"?><html><body><p>{RU}</p></body></html>'
    assert RU in decode_html(xml.encode("cp1251"), {})
    # nothing declared, not UTF-8: detected
    bare = f"<html><body><p>{RU * 3}</p></body></html>".encode("cp1251")
    assert RU in decode_html(bare, {})


def test_decode_gzip_body() -> None:
    raw = gzip.compress(page("<p>Sağlık Bakanlığı işbirliği</p>").encode())
    assert "Sağlık Bakanlığı işbirliği" in decode_html(raw, {})


# ---------------------------------------------------------------------------- detect_language

AZ = [
    "Azərbaycan Səhiyyə Nazirliyi Dünya Səhiyyə Təşkilatı ilə əməkdaşlığın genişləndirilməsi "
    "barədə memorandum imzalayıb.",
    "Nazir Teymur Musayev Türkiyə səfəri zamanı tibb müəssisələri arasında təcrübə "
    "mübadiləsini müzakirə etdi.",
    "Bakıda keçirilən beynəlxalq konfransda peyvənd istehsalı üzrə birgə layihələr təqdim olunub.",
    "Peyvəndləmə kampaniyası çərçivəsində UNICEF Azərbaycana 200 min doza vaksin göndərib.",
    "Türkiyənin Səhiyyə Bakanlığı ilə anlaşma",
    "Yeni xəstəxana açılıb",
    # the model alone says "tr" here; the schwa rule decides
    "İki ülkə arasında sağlık işbirliği",
]
TR = [
    "Sağlık Bakanlığı, Dünya Sağlık Örgütü ile işbirliğinin genişletilmesine ilişkin bir "
    "mutabakat zaptı imzaladı.",
    "Bakan, Azerbaycan ziyareti sırasında sağlık kuruluşları arasında deneyim paylaşımını görüştü.",
    "Bakü'de Azerbaycan ile ortak hastane inşa edilecek",
    "Aşılama kampanyası kapsamında UNICEF Türkiye'ye 200 bin doz aşı gönderdi.",
    "Bakanlık açıklaması",
    # Turkish quoting an Azerbaijani name stays Turkish
    "Bakan, Azerbaycan Sağlık Bakanı ile Bakü'de 'Səhiyyə Həftəsi' etkinliğinde görüştü ve iki "
    "ülke arasındaki sağlık işbirliğinin güçlendirilmesi için atılacak adımları ele aldı.",
]
OTHERS = {
    "en": "The Ministry of Health signed a memorandum of understanding with the World Health "
    "Organization on expanding cooperation.",
    "ru": "Министерство здравоохранения подписало меморандум о сотрудничестве со Всемирной "
    "организацией здравоохранения.",
    "zh": "卫生部与世界卫生组织签署了关于扩大卫生合作的谅解备忘录。",
    "kk": "Қазақстан Денсаулық сақтау министрлігі Дүниежүзілік денсаулық сақтау ұйымымен "
    "ынтымақтастық туралы меморандумға қол қойды.",
    "ka": "საქართველოს ჯანდაცვის სამინისტრომ ჯანდაცვის მსოფლიო ორგანიზაციასთან "
    "თანამშრომლობის მემორანდუმს მოაწერა ხელი.",
    "fa": "وزارت بهداشت ایران تفاهم‌نامه همکاری با سازمان جهانی بهداشت را امضا کرد.",
    "de": "Das Gesundheitsministerium hat eine Absichtserklärung über die Zusammenarbeit mit der "
    "Weltgesundheitsorganisation unterzeichnet.",
    "uk": "Міністерство охорони здоров'я України підписало меморандум про співпрацю з "
    "Всесвітньою організацією охорони здоров'я.",
}


@pytest.mark.parametrize("text", AZ)
def test_detect_azerbaijani(text: str) -> None:
    assert detect_language(text) == "az"


@pytest.mark.parametrize("text", TR)
def test_detect_turkish(text: str) -> None:
    assert detect_language(text) == "tr"


@pytest.mark.parametrize(("lang", "text"), sorted(OTHERS.items()))
def test_detect_other_languages(lang: str, text: str) -> None:
    assert detect_language(text) == lang


def test_detect_too_short_or_empty_is_none() -> None:
    for text in ("", "   ", "123 456 789", "OK", "ВОЗ", "!!!", "Hello"):
        assert detect_language(text) is None, text
    assert detect_language("世界卫生组织") == "zh"  # six characters are enough for CJK


def test_language_scores_are_calibrated() -> None:
    lang, confidence = language_scores(OTHERS["en"])
    assert lang == "en" and confidence > 0.9
    lang, confidence = language_scores("Tedros Adhanom Ghebreyesus Teymur Musayev Hans Kluge")
    assert confidence < 0.5  # names only: unsure, so a declared language may decide


# ---------------------------------------------------------------------------- extract_article

HEAD = (
    '<title>Health cooperation agreement signed | Ministry of Health</title>'
    '<meta property="og:title" content="Health cooperation agreement signed">'
    '<meta name="author" content="Leyla Mammadova">'
    '<meta property="og:site_name" content="Ministry of Health">'
    '<meta property="article:published_time" content="2024-05-14T09:30:00+04:00">'
)


def test_extract_article_text_and_metadata() -> None:
    html = article_page([PARAGRAPH * 2, PARAGRAPH], head=HEAD)
    url = "https://health.example.org/news/1"
    art = extract_article(html.encode(), {"content-type": "text/html"}, url=url)
    assert art.text == trafilatura.extract(html, url=url)
    assert "primary health care" in art.text and "Section 3" not in art.text
    assert art.title == "Health cooperation agreement signed"
    assert art.author == "Leyla Mammadova"
    assert art.sitename == "Ministry of Health"
    assert art.published == datetime(2024, 5, 14, tzinfo=UTC)
    assert (art.language, art.method, art.url) == ("en", "page", url)
    assert pickle.loads(pickle.dumps(art)) == art


def test_extract_article_language_detected_over_declared() -> None:
    html = article_page([RU, RU], lang="en")
    assert extract_article(html.encode(), {}, url="https://x.example/").language == "ru"
    az = " ".join(AZ[:4])
    html = article_page([az, az], lang="tr")
    assert extract_article(html.encode(), {}, url="https://x.example/").language == "az"


def test_extract_article_declared_language_when_unsure() -> None:
    names = "Tedros Adhanom Ghebreyesus, Teymur Musayev, Hans Kluge"
    html = article_page([names], lang="az-Latn")
    assert extract_article(html.encode(), {}, url="https://x.example/").language == "az"
    html = article_page([names], lang="")
    art = extract_article(html.encode(), {"content-language": "ka, en"}, url="https://x.example/")
    assert art.language == "ka"


def test_extract_article_non_utf8_page() -> None:
    html = article_page([RU, RU]).replace('charset="utf-8"', 'charset="windows-1251"')
    art = extract_article(html.encode("cp1251"), {}, url="https://x.example/")
    assert RU.strip() in art.text
    assert art.language == "ru"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty page body"),
        (b"  \n\t ", "empty page body"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "no main text"),
        (b"<html><head><title>x</title></head><body></body></html>", "no main text"),
        (
            page("<nav><ul>" + "".join(f"<li><a href='/{i}'>Section {i}</a></li>"
                                       for i in range(30)) + "</ul></nav>").encode(),
            "navigation",
        ),
        (b"garbage \x00\x01 not html at all", "navigation"),
    ],
)
def test_extract_article_failures(content: bytes, reason: str) -> None:
    with pytest.raises(ExtractionError, match=reason):
        extract_article(content, {}, url="https://x.example/")


def test_extract_article_in_a_worker_process() -> None:
    html = article_page([PARAGRAPH * 3], head=HEAD).encode()
    with ProcessPoolExecutor(max_workers=1) as pool:
        art = pool.submit(extract_article, html, {}, url="https://x.example/a").result()
        with pytest.raises(ExtractionError):
            pool.submit(extract_article, b"", {}, url="https://x.example/b").result()
    assert isinstance(art, Article)
    assert "primary health care" in art.text and art.language == "en"


# ---------------------------------------------------------------------------- parity on peers


def _benchmark_pages(peers: Path, count: int) -> list[tuple[str, bytes, str]]:
    root = peers / "article-extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    files = sorted((root / "html").glob("*.html.gz"))[:count]
    return [(f.name, f.read_bytes(), truth[f.name.split(".")[0]]["url"]) for f in files]


@pytest.mark.peers
def test_text_equals_bare_trafilatura_on_benchmark_pages(peers: Path) -> None:
    pages = _benchmark_pages(peers, 20)
    assert len(pages) == 20
    titled = 0
    for name, raw, url in pages:
        html = gzip.decompress(raw).decode("utf-8")
        expected = trafilatura.extract(html, url=url)
        art = extract_article(raw, {"content-type": "text/html"}, url=url)  # gzip'd as stored
        assert art.text == expected, name
        assert art.language is not None, name
        titled += bool(art.title)
    assert titled >= 18


@pytest.mark.peers
@pytest.mark.parametrize(
    ("path", "codec", "snippet"),
    [
        ("cache/cdu-fraktion-erfurt.de.waldorfschule.html", "cp1252", "Waldorfschule"),
        ("cache/landwirt.com.sensortechnik.html", "cp1252", "ü"),
        (
            "eval/Unijne fundusze coraz bliżej. Sejm zagłosował _za_ - Polityka - rp.pl.html",
            "cp1250", "ł",
        ),
    ],
)
def test_text_equals_bare_trafilatura_on_legacy_encodings(
    peers: Path, path: str, codec: str, snippet: str
) -> None:
    root = peers / "trafilatura-pages"
    url = json.loads((root / "expectations.json").read_text("utf-8"))["pages"][path]["url"]
    raw = (root / path).read_bytes()
    art = extract_article(raw, {}, url=url)
    assert art.text == trafilatura.extract(raw.decode(codec), url=url)
    assert snippet in art.text and "\ufffd" not in art.text


# ---------------------------------------------------------------------------- page metadata

JSON_LD = (
    '<script type="application/ld+json">{"@context": "https://schema.org", "@type": '
    '"NewsArticle", "headline": "Nurses trained in rural districts", "datePublished": '
    '"2024-03-02T08:00:00Z", "author": {"@type": "Person", "name": "Amina Diallo"}, '
    '"publisher": {"@type": "Organization", "name": "Health Daily"}}</script>'
)


def _tree(html: str) -> object:
    from trafilatura.utils import load_html

    return load_html(html)


def test_metadata_from_json_ld_alone() -> None:
    html = article_page([PARAGRAPH * 2], head="<title>Home</title>" + JSON_LD)
    meta = page_metadata(_tree(html), "https://daily.example/n/1")
    assert meta == PageMetadata(title="Nurses trained in rural districts", author="Amina Diallo",
                                sitename="Health Daily",
                                published=datetime(2024, 3, 2, tzinfo=UTC))


def test_metadata_falls_back_on_headings_title_and_host() -> None:
    body = "<article><h1>Clinics reopen after the floods</h1>" + f"<p>{PARAGRAPH * 2}</p></article>"
    meta = page_metadata(_tree(page(body, head='<meta name="author" content="admin">')),
                         "https://www.clinics.example/news/x")
    assert meta.title == "Clinics reopen after the floods"
    assert meta.author == ""  # a user name, not a person's: trafilatura's rule
    assert meta.sitename == "clinics.example"
    assert meta.published is None  # no date anywhere: none made up


def test_metadata_date_from_the_url_and_only_when_asked() -> None:
    html = article_page([PARAGRAPH * 2])
    url = "https://health.example.org/2023/11/05/agreement-signed.html"
    assert page_metadata(_tree(html), url).published == datetime(2023, 11, 5, tzinfo=UTC)
    assert page_metadata(_tree(html), url, find_date=False).published is None


def test_metadata_never_raises() -> None:
    assert page_metadata(_tree(page("<p>x</p>")), "not a url") == PageMetadata()
    assert page_metadata(None, "https://x.example/") == PageMetadata()


def test_extract_article_without_the_page_date_keeps_the_same_text() -> None:
    html = article_page([PARAGRAPH * 2, PARAGRAPH], head=HEAD)
    url = "https://health.example.org/news/1"
    full = extract_article(html.encode(), {}, url=url)
    lean = extract_article(html.encode(), {}, url=url, find_date=False)
    assert lean.published is None and full.published is not None
    assert (lean.text, lean.title, lean.author, lean.sitename) == (
        full.text, full.title, full.author, full.sitename)


@pytest.mark.peers
def test_metadata_on_benchmark_pages_is_trafilaturas_where_it_matters(peers: Path) -> None:
    """Title and site name as trafilatura's full metadata pass finds them; the date on
    nearly every page (htmldate without its extensive search)."""
    from trafilatura.metadata import extract_metadata

    pages = _benchmark_pages(peers, 40)
    same_title = same_site = dated = 0
    for _name, raw, url in pages:
        html = gzip.decompress(raw).decode("utf-8")
        full = extract_metadata(_tree(html), url)
        meta = page_metadata(_tree(html), url)
        same_title += meta.title == " ".join((full.title or "").split())
        same_site += meta.sitename == " ".join((full.sitename or "").split())
        dated += meta.published is not None
    assert same_title == len(pages)
    assert same_site >= len(pages) - 2
    assert dated >= len(pages) * 0.85


# ---------------------------------------------------------------------------- feed entries


def test_html_to_text_blocks_and_junk() -> None:
    markup = (
        "<div><h2>Agreement signed</h2><script>var x = 1;</script><style>p{}</style>"
        "<p>First &amp; <b>bold</b> paragraph.<br>Second line</p><!-- comment -->"
        "<ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table></div>"
    )
    assert html_to_text(markup) == (
        "Agreement signed\nFirst & bold paragraph.\nSecond line\none\ntwo\na b"
    )
    assert html_to_text("plain  text\n\nwith   lines, 3 < 4") == "plain text\nwith lines, 3 < 4"
    assert html_to_text("<!-- only a comment -->") == ""
    full = '<?xml version="1.0" encoding="utf-8"?><html><head><title>T</title></head>'
    assert html_to_text(full + "<body><p>Səhiyyə</p></body></html>") == "Səhiyyə"


def test_article_from_entry_content_and_metadata() -> None:
    when = datetime(2024, 5, 14, 9, tzinfo=UTC)
    art = article_from_entry(
        url="https://x.example/1", title="Agreement  signed", content=f"<p>{PARAGRAPH}</p>",
        summary="teaser", published=when, author=" WHO ", language_hint="tr",
    )
    assert art.text == PARAGRAPH.strip()
    assert (art.title, art.author, art.published, art.method) == (
        "Agreement signed", "WHO", when, "feed"
    )
    assert art.language == "en"  # clear detection beats the hint
    assert pickle.loads(pickle.dumps(art)) == art


def test_article_from_entry_summary_fallback_and_hint() -> None:
    art = article_from_entry(
        url="https://x.example/2", title="", content="<script>track()</script>",
        summary="<p>Tedros Adhanom Ghebreyesus, Teymur Musayev</p>", published=None,
        author="", language_hint="az-AZ",
    )
    assert art.text == "Tedros Adhanom Ghebreyesus, Teymur Musayev"
    assert art.language == "az"  # unsure detection: the hint decides


def test_article_from_entry_nothing_left() -> None:
    with pytest.raises(ExtractionError, match="no content or summary text"):
        article_from_entry(
            url="https://x.example/3", title="Only a title", content="<style>p{}</style>",
            summary="  ", published=None, author="", language_hint=None,
        )
