"""The taxonomy file, its validation and cue matching; the held-out quality-gate file."""

from __future__ import annotations

import collections
import copy
import importlib.util
import json
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pycountry
import pytest

from classifiers.errors import TaxonomyError
from classifiers.taxonomy import (
    CORE_LANGUAGES,
    DOMAIN_IDS,
    MIN_CUES,
    MIN_RELEVANCE_CUES,
    RELEVANCE_KINDS,
    Taxonomy,
    fold,
    load_taxonomy,
)
from classifiers.types import CueHit

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "classifiers" / "taxonomy.toml"
SHARED = ROOT.parent / "shared"
GUIDE = SHARED / "labeling-guide.md"
DEV = SHARED / "data" / "dev.jsonl"
DATA = Path(__file__).resolve().parent / "data"
HELDOUT = DATA / "heldout.jsonl"

HAVE_HYPOTHESIS = importlib.util.find_spec("hypothesis") is not None


# --- helpers ----------------------------------------------------------------------------------


def _raw() -> dict[str, Any]:
    return tomllib.loads(PACKAGED.read_text(encoding="utf-8"))


def _dump(data: dict[str, Any]) -> str:
    """A TOML writer for the taxonomy's shape (JSON strings are valid TOML basic strings)."""
    out: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v, ensure_ascii=False)

    def table(prefix: str, body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in body.items() if isinstance(v, dict)}
        if prefix:
            out.append(f"[{prefix}]")
        out.extend(f"{json.dumps(k)} = {value(v)}" for k, v in scalars.items())
        for key, sub in tables.items():
            table(f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key), sub)

    table("", data)
    return "\n".join(out) + "\n"


def _write(tmp_path: Path, data: dict[str, Any], name: str = "taxonomy.toml") -> Path:
    path = tmp_path / name
    path.write_text(_dump(data), encoding="utf-8")
    return path


FILLERS = [f"zzfiller{n:02d}" for n in range(MIN_CUES)]


def _with_terms(tmp_path: Path, terms: list[str], domain: str = "cardiology") -> Taxonomy:
    """The packaged taxonomy with ``domain``'s cues replaced by ``terms`` (plus fillers)."""
    data = _raw()
    data["domains"][domain]["cues"] = {
        "en": terms + FILLERS,
        **{lang: list(FILLERS) for lang in CORE_LANGUAGES if lang != "en"},
    }
    return load_taxonomy(_write(tmp_path, data))


def _surfaces(taxonomy: Taxonomy, text: str, domain: str) -> list[str]:
    return [text[h.start : h.end] for h in taxonomy.find_cues(text) if h.domain == domain]


def _heldout() -> list[dict[str, Any]]:
    with HELDOUT.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# --- the packaged taxonomy --------------------------------------------------------------------


def test_the_packaged_taxonomy_has_the_guides_fifteen_domains() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.ids() == DOMAIN_IDS
    assert len(set(DOMAIN_IDS)) == 15
    for domain in taxonomy.domains:
        assert domain.label and domain.description
        for language in CORE_LANGUAGES:
            positive = [t for t in domain.cues[language] if not t.startswith("!")]
            assert len(positive) >= MIN_CUES, (domain.id, language)
        assert domain.terms()
    assert tuple(taxonomy.relevance) == RELEVANCE_KINDS
    for kind, languages in taxonomy.relevance.items():
        for language in CORE_LANGUAGES:
            assert len(languages[language]) >= MIN_RELEVANCE_CUES, (kind, language)
    assert re.fullmatch(r"[0-9a-f]{12}", taxonomy.version)
    assert taxonomy.domain("oncology").label == "Oncology"
    with pytest.raises(KeyError):
        taxonomy.domain("dermatology")


def test_every_domain_has_cues_in_the_other_news_languages() -> None:
    for domain in load_taxonomy().domains:
        for language in ("de", "fa", "ar", "ka", "sr", "pl", "uk", "kk", "zh"):
            assert len(domain.cues.get(language, ())) >= 5, (domain.id, language)


@pytest.mark.skipif(not GUIDE.is_file(), reason="../shared/labeling-guide.md is absent")
def test_ids_order_and_descriptions_are_the_guides() -> None:
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+?) \|$", GUIDE.read_text(encoding="utf-8"), re.M)
    assert tuple(domain_id for domain_id, _ in rows) == DOMAIN_IDS
    for (domain_id, covers), domain in zip(rows, load_taxonomy().domains, strict=True):
        assert domain.id == domain_id
        assert domain.description.rstrip(".").casefold() == covers.casefold()


def test_the_default_is_cached_and_a_path_is_read_afresh() -> None:
    assert load_taxonomy() is load_taxonomy()
    fresh = load_taxonomy(PACKAGED)
    assert fresh is not load_taxonomy()
    assert fresh == load_taxonomy()
    assert fresh.version == load_taxonomy().version
    assert hash(fresh) == hash(load_taxonomy())  # usable as a cache key
    assert len({domain: domain.id for domain in fresh.domains}) == 15


def test_nothing_is_read_or_compiled_at_import() -> None:
    code = (
        "import classifiers.taxonomy as t\n"
        "assert t._load_default.cache_info().currsize == 0\n"
        "x = t.load_taxonomy()\n"
        "assert '_domain_matcher' not in vars(x)\n"
        "x.find_cues('heart')\n"
        "assert '_domain_matcher' in vars(x)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_version_follows_content_not_layout(tmp_path: Path) -> None:
    base = load_taxonomy().version
    data = _raw()
    reordered = copy.deepcopy(data)
    for domain in reordered["domains"].values():
        for terms in domain["cues"].values():
            terms.reverse()
    reordered["domains"] = dict(reversed(list(reordered["domains"].items())))
    path = _write(tmp_path, reordered, "reordered.toml")
    path.write_text("# a comment\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_taxonomy(path).version == base
    assert load_taxonomy(path).ids() == DOMAIN_IDS  # the guide's order, whatever the file's

    added = copy.deepcopy(data)
    added["domains"]["oncology"]["cues"]["en"].append("oncogenic")
    assert load_taxonomy(_write(tmp_path, added, "added.toml")).version != base
    described = copy.deepcopy(data)
    described["domains"]["oncology"]["description"] += " More."
    assert load_taxonomy(_write(tmp_path, described, "described.toml")).version != base


# --- validation -------------------------------------------------------------------------------


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def _append(domain: str, language: str, term: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["domains"][domain]["cues"][language].append(term)

    return change


def _unknown_domain(data: dict[str, Any]) -> None:
    data["domains"]["dermatology"] = copy.deepcopy(data["domains"]["cardiology"])


def _too_few(data: dict[str, Any]) -> None:
    cues = data["domains"]["telemedicine"]["cues"]
    cues["ru"] = cues["ru"][:5]


INVALID = [
    (_unknown_domain, "domains.dermatology"),
    (_delete("domains", "oncology"), "domains.oncology"),
    (_delete("domains", "research", "description"), "domains.research.description"),
    (_set(("domains", "research", "label"), "  "), "domains.research.label"),
    (_set(("domains", "research", "colour"), "red"), "domains.research.colour"),
    (_too_few, "domains.telemedicine.cues.ru"),
    (_delete("domains", "rehabilitation", "cues", "tr"), "domains.rehabilitation.cues.tr"),
    (_set(("domains", "oncology", "cues", "eng"), ["cancer"]), "domains.oncology.cues.eng"),
    (_set(("domains", "oncology", "cues", "en"), "cancer"), "domains.oncology.cues.en"),
    (_append("oncology", "en", ""), "domains.oncology.cues.en["),
    (_append("oncology", "en", " cancer"), "domains.oncology.cues.en["),
    (_append("oncology", "en", 7), "domains.oncology.cues.en["),
    (_append("oncology", "en", "Cancer"), "duplicates"),
    (_append("infectious-disease", "az", "iiv"), "domains.infectious-disease.cues.az["),
    (_append("cardiology", "en", "heart-failure"), "duplicates"),
    (_append("cardiology", "en", "kar*dio"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "**heart"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "heart  failure"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "he*"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "*he"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "heart *failure"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "e.coli"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "x"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "!"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "心"), "domains.cardiology.cues.en["),
    (_append("cardiology", "en", "心脏*"), "domains.cardiology.cues.en["),
    (_set(("colour",), "red"), "colour"),
    (_set(("schema",), 2), "schema"),
    (_delete("relevance", "health"), "relevance.health"),
    (_set(("relevance", "politics"), {"en": ["vote"]}), "relevance.politics"),
    (_set(("relevance", "cooperation", "az"), ["birgə"]), "relevance.cooperation.az"),
    (_set(("domains",), []), "domains"),
]


@pytest.mark.parametrize(("change", "key"), INVALID, ids=[key for _, key in INVALID])
def test_an_invalid_taxonomy_is_refused_naming_the_key(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], key: str
) -> None:
    data = _raw()
    change(data)
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(_write(tmp_path, data))
    assert key in str(caught.value)


def test_unreadable_files_are_taxonomy_errors(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("schema = [1\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="TOML"):
        load_taxonomy(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes("schema = 1\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(TaxonomyError, match="UTF-8"):
        load_taxonomy(latin)


# --- the term syntax --------------------------------------------------------------------------


def test_plain_terms_match_whole_words_case_insensitively(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["stent", "TAVI"])
    text = "A STENT, two stents, a consistent stenting plan; tavi and Tavi-based care."
    assert _surfaces(taxonomy, text, "cardiology") == ["STENT", "tavi", "Tavi"]


def test_phrases_match_across_spaces_hyphens_and_line_breaks(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["heart failure", "ürək-damar", "women's health"])
    text = (
        "Heart  Failure; heart-failure; heart\n failure; heart, failure; heartfailure. "
        "ürək damar, ÜRƏK-DAMAR, ürək–damar. Women’s health and womens health."
    )
    assert _surfaces(taxonomy, text, "cardiology") == [
        "Heart  Failure", "heart-failure", "heart\n failure",
        "ürək damar", "ÜRƏK-DAMAR", "ürək–damar", "Women’s health",
    ]  # fmt: skip


def test_stems_match_inflected_forms(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["kardioloq*", "сердечн* недостаточност*", "kalp nakl*"])
    text = (
        "Kardioloqların görüşü; psixokardioloq deyil. "
        "лечение сердечной недостаточностью; сердечно поблагодарил. "
        "KALP NAKLİ ve kalp naklinde."
    )
    assert _surfaces(taxonomy, text, "cardiology") == [
        "Kardioloqların", "сердечной недостаточностью", "KALP NAKLİ", "kalp naklinde",
    ]  # fmt: skip


def test_a_leading_star_matches_word_endings_and_insides(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["*kardiologie", "*krebs*", "*أورام*"])
    text = "Kinderkardiologie, Kardiologiezentrum; Brustkrebszentrum, Krebs; والأورام الاورام"
    assert _surfaces(taxonomy, text, "cardiology") == [
        "Kinderkardiologie", "Brustkrebszentrum", "Krebs", "والأورام", "الاورام",
    ]  # fmt: skip


def test_exclusions_hide_what_they_overlap(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["heart", "heart surgery", "!heart of"])
    text = "Heart surgery in the heart of the city, where the heart is."
    hits = [h for h in taxonomy.find_cues(text) if h.domain == "cardiology"]
    assert [(text[h.start : h.end], h.term) for h in hits] == [
        ("Heart surgery", "heart surgery"),
        ("heart", "heart"),
    ]
    assert all(not h.term.startswith("!") for h in taxonomy.find_cues(text))


def test_turkish_and_azerbaijani_dotted_and_dotless_i(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["ılıca*", "İİV", "sigorta"])
    text = "ILICA, Ilıcalar, ılıcaya; İİV və iiv; SİGORTA, SIGORTA, sıgorta, sığorta."
    assert _surfaces(taxonomy, text, "cardiology") == [
        "ILICA", "Ilıcalar", "ılıcaya", "İİV", "iiv", "SİGORTA", "SIGORTA", "sıgorta",
    ]  # fmt: skip


def test_other_scripts(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["туберкулез*", "心脏", "بیماری های قلبی", "სიმსივნ*"])
    text = "Туберкулёза нет. 中国心脏中心. بیماری‌های قلبی. სიმსივნის მკურნალობა."
    assert _surfaces(taxonomy, text, "cardiology") == [
        "Туберкулёза", "心脏", "بیماری\u200cهای قلبی", "სიმსივნის",
    ]  # fmt: skip


def test_hits_carry_the_term_as_written_and_offsets_into_the_text(tmp_path: Path) -> None:
    taxonomy = _with_terms(tmp_path, ["Kalp Nakl*"])
    text = "İSTANBUL — İki KALP NAKLİ yapıldı."
    (hit,) = [h for h in taxonomy.find_cues(text) if h.domain == "cardiology"]
    start = text.index("KALP")
    assert hit == CueHit("cardiology", "Kalp Nakl*", start, start + len("KALP NAKLİ"))


def test_one_domain_gets_no_overlapping_hits_but_domains_may_overlap() -> None:
    taxonomy = load_taxonomy()
    text = "The team performed heart surgery and a kidney transplant."
    hits = taxonomy.find_cues(text)
    cardiology = [text[h.start : h.end] for h in hits if h.domain == "cardiology"]
    surgery = [text[h.start : h.end] for h in hits if h.domain == "surgery-transplant"]
    assert cardiology == ["heart surgery"]
    assert surgery == ["surgery", "kidney transplant"]
    assert hits == sorted(hits, key=lambda h: (h.start, h.end, DOMAIN_IDS.index(h.domain)))


# --- the packaged cue lists on real sentences -------------------------------------------------

EXAMPLES = [
    ("en", "Cardiac surgeons treated heart failure and fitted pacemakers.", "cardiology"),
    ("az", "Kardioloqlar ürək-damar xəstəliklərinin müalicəsini müzakirə ediblər.", "cardiology"),
    ("ru", "Кардиохирурги провели операции на открытом сердце.", "cardiology"),
    ("tr", "Türk kardiyologlar kalp cerrahisi alanında deneyim paylaştı.", "cardiology"),
    ("en", "A new radiotherapy unit for cancer patients.", "oncology"),
    ("az", "Xərçəng xəstələri üçün şüa terapiyası mərkəzi.", "oncology"),
    ("ru", "Онкологи обсудили лечение злокачественных опухолей.", "oncology"),
    ("tr", "Kanser hastalarına kemoterapi uygulandı.", "oncology"),
    ("az", "Cərrahlar böyrək köçürülməsi əməliyyatı aparıblar.", "surgery-transplant"),
    ("ru", "Трансплантологи провели пересадку почки.", "surgery-transplant"),
    ("tr", "Organ nakli ve laparoskopik ameliyatlar yapıldı.", "surgery-transplant"),
    ("az", "Peyvəndləmə kampaniyası vərəmə qarşı aparılıb.", "infectious-disease"),
    ("ru", "Вакцинация против кори и туберкулёза.", "infectious-disease"),
    ("tr", "Kızamık aşısı ve salgın hastalıklarla mücadele.", "infectious-disease"),
    ("az", "Humanitar yardım yükü zəlzələ bölgəsinə çatdırılıb.", "humanitarian-aid"),
    ("ru", "Гуманитарный груз с медикаментами передан пострадавшим.", "humanitarian-aid"),
    ("tr", "Deprem bölgesine insani yardım malzemesi gönderildi.", "humanitarian-aid"),
    ("az", "Çin təbabəti və iynəbatırma mərkəzi açılıb.", "traditional-medicine"),
    ("ru", "Центр традиционной китайской медицины и иглоукалывания.", "traditional-medicine"),
    ("tr", "Geleneksel Çin tıbbı ve akupunktur eğitimi.", "traditional-medicine"),
    ("az", "Tələbə mübadiləsi və ixtisasartırma kursları.", "medical-education"),
    ("ru", "Стажировка для ординаторов и повышение квалификации врачей.", "medical-education"),
    ("tr", "Tıp öğrencileri için değişim programı ve staj.", "medical-education"),
    ("az", "Birgə tədqiqat və elmi konfrans keçirilib.", "research"),
    ("ru", "Совместное клиническое исследование и научная конференция.", "research"),
    ("tr", "Ortak araştırma ve bilimsel kongre düzenlendi.", "research"),
    ("az", "Səhiyyənin rəqəmsallaşması və elektron resept sistemi.", "digital-health"),
    ("ru", "Цифровизация здравоохранения и электронные медицинские карты.", "digital-health"),
    ("tr", "Yapay zekâ destekli dijital sağlık uygulamaları.", "digital-health"),
    ("az", "Telemedisina vasitəsilə uzaqdan konsultasiya.", "telemedicine"),
    ("ru", "Телемедицинские консультации и видеоконференции.", "telemedicine"),
    ("tr", "Teletıp ile uzaktan muayene yapıldı.", "telemedicine"),
    ("az", "Tibbi turizm: xarici pasiyentlər sanatoriyalarda.", "medical-tourism"),
    ("ru", "Медицинский туризм и лечение за рубежом в санаториях.", "medical-tourism"),
    ("tr", "Sağlık turizmi ile yabancı hastalar kaplıcalarda.", "medical-tourism"),
    ("az", "Dərman vasitələrinin qeydiyyatı və əczaçılıq zavodu.", "pharmaceuticals"),
    ("ru", "Регистрация лекарственных препаратов и фармацевтический завод.", "pharmaceuticals"),
    ("tr", "İlaç ruhsatlandırma ve yerli üretim.", "pharmaceuticals"),
    ("az", "İcbari tibbi sığorta və səhiyyə islahatı.", "health-policy"),
    ("ru", "Реформа системы здравоохранения и медицинское страхование.", "health-policy"),
    ("tr", "Genel sağlık sigortası ve sağlıkta dönüşüm.", "health-policy"),
    ("az", "Ana və uşaq sağlamlığı, yenidoğulmuşlar və pediatriya.", "maternal-child-health"),
    ("ru", "Охрана материнства, новорождённые и педиатрия.", "maternal-child-health"),
    ("tr", "Anne ve çocuk sağlığı, yenidoğan yoğun bakım.", "maternal-child-health"),
    ("az", "Qazilər üçün reabilitasiya və protezləşdirmə.", "rehabilitation"),
    ("ru", "Реабилитация после инсульта и протезирование.", "rehabilitation"),
    ("tr", "Gaziler için fizik tedavi ve rehabilitasyon.", "rehabilitation"),
]


@pytest.mark.parametrize(("language", "text", "domain"), EXAMPLES)
def test_inflected_sentences_hit_their_domain(language: str, text: str, domain: str) -> None:
    hits = [h for h in load_taxonomy().find_cues(text) if h.domain == domain]
    assert len(hits) >= 2, (language, [(h.term, text[h.start : h.end]) for h in hits])


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("The museum stands in the heart of the city.", "cardiology"),
        ("A computer virus hit the ministry's network.", "infectious-disease"),
        ("The plan supports economic recovery after the crisis.", "rehabilitation"),
        ("Police arrested two men for drug trafficking.", "pharmaceuticals"),
        ("Prezident ad günü münasibətilə təbrik edib; doğum günü.", "maternal-child-health"),
        ("The museum will hold a birthday concert, it said.", "digital-health"),
    ],
)
def test_passing_words_that_are_not_the_domain(text: str, domain: str) -> None:
    assert [h for h in load_taxonomy().find_cues(text) if h.domain == domain] == []


def test_relevance_cues() -> None:
    taxonomy = load_taxonomy()
    text = (
        "The two ministers signed a memorandum on cooperation in gas, energy and tourism; "
        "a medical tourism fair and hospital visits were also discussed."
    )
    found = taxonomy.find_relevance_cues(text)
    assert tuple(found) == RELEVANCE_KINDS
    for kind, hits in found.items():
        assert hits and all(h.domain == kind for h in hits)
    other = [text[h.start : h.end] for h in found["other_fields"]]
    assert other == ["gas", "energy", "tourism"]  # not the "tourism" of "medical tourism"
    assert {text[h.start : h.end] for h in found["cooperation"]} >= {"signed", "memorandum"}
    assert taxonomy.find_relevance_cues("") == {kind: [] for kind in RELEVANCE_KINDS}
    az = taxonomy.find_relevance_cues("Azərbaycan ilə İtaliya arasında qaz sazişi imzalanıb.")
    assert az["cooperation"] and az["other_fields"] and not az["health"]


# --- properties and speed ---------------------------------------------------------------------

# Property tests need hypothesis (a dev dependency); the examples above run without it.
if HAVE_HYPOTHESIS:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text())
    def test_fold_keeps_length_and_is_idempotent(text: str) -> None:
        folded = fold(text)
        assert len(folded) == len(text)
        assert fold(folded) == folded

    @settings(max_examples=150, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                ["heart", "surgery", "İSTANBUL", "ürək-damar", "кардиолог", "сердечной", "\n",
                 "-", " ", "kalp", "NAKLİ", "心脏", "والأورام", "!", "x", "*", "ı", "’s"]
            )
            | st.text(max_size=6),
            max_size=40,
        ).map("".join)
    )  # fmt: skip
    def test_hits_are_well_formed(text: str) -> None:
        taxonomy = load_taxonomy()
        hits = taxonomy.find_cues(text)
        reach: dict[str, int] = {}
        for hit in hits:
            assert hit.domain in DOMAIN_IDS
            assert 0 <= hit.start < hit.end <= len(text)
            assert hit.start >= reach.get(hit.domain, 0)
            reach[hit.domain] = hit.end
        assert hits == sorted(hits, key=lambda h: (h.start, h.end, DOMAIN_IDS.index(h.domain)))
        for kind, found in taxonomy.find_relevance_cues(text).items():
            assert all(h.domain == kind and 0 <= h.start < h.end <= len(text) for h in found)


def test_matching_speed_is_printed() -> None:
    """Prints the time to match a 3,000-character text per language (no assertion)."""
    taxonomy = load_taxonomy()
    by_language: dict[str, str] = collections.defaultdict(str)
    for item in _heldout():
        by_language[item["language"]] += item["title"] + "\n\n" + item["text"] + "\n\n"
    for language, text in sorted(by_language.items()):
        text = (text * 3)[:3000]
        taxonomy.find_cues(text)
        taxonomy.find_relevance_cues(text)
        runs = 50
        start = time.perf_counter()
        for _ in range(runs):
            taxonomy.find_cues(text)
        middle = time.perf_counter()
        for _ in range(runs):
            taxonomy.find_relevance_cues(text)
        end = time.perf_counter()
        print(
            f"{language}: find_cues {1000 * (middle - start) / runs:.2f} ms, "
            f"find_relevance_cues {1000 * (end - middle) / runs:.2f} ms per 3,000 characters"
        )


# --- the held-out file ------------------------------------------------------------------------

KEYS = {"id", "url", "language", "title", "text", "relevant", "countries", "domains"}


def test_heldout_follows_the_labeling_guide() -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for number, item in enumerate(_heldout(), start=1):
        where = f"line {number}"
        if set(item) != KEYS:
            problems.append(f"{where}: keys {sorted(item)}")
            continue
        if not isinstance(item["id"], str) or not item["id"] or item["id"] in seen:
            problems.append(f"{where}: id missing or repeated")
        seen.add(item["id"])
        if not str(item["url"]).startswith("https://"):
            problems.append(f"{where}: url")
        if item["language"] not in ("en", "az", "ru", "tr"):
            problems.append(f"{where}: language {item['language']!r}")
        for key in ("title", "text"):
            if not isinstance(item[key], str) or not item[key].strip():
                problems.append(f"{where}: empty {key}")
        if not isinstance(item["relevant"], bool):
            problems.append(f"{where}: relevant must be true or false")
        countries, domains = item["countries"], item["domains"]
        if not isinstance(countries, list) or len(set(countries)) != len(countries):
            problems.append(f"{where}: countries must be a list without repeats")
            countries = []
        for code in countries:
            if not (isinstance(code, str) and re.fullmatch(r"[A-Z]{2}", code)):
                problems.append(f"{where}: {code!r} is not an upper-case alpha-2 code")
            elif pycountry.countries.get(alpha_2=code) is None:
                problems.append(f"{where}: {code} is not an ISO 3166-1 country")
            elif code == "AZ":
                problems.append(f"{where}: AZ is the home country and is never listed")
        if not isinstance(domains, list) or len(set(domains)) != len(domains):
            problems.append(f"{where}: domains must be a list without repeats")
            domains = []
        problems.extend(f"{where}: unknown domain {d!r}" for d in domains if d not in DOMAIN_IDS)
        if item["relevant"] is False and (countries or domains):
            problems.append(f"{where}: an item that is not relevant has no countries or domains")
        if item["relevant"] is True and not countries:
            problems.append(f"{where}: a relevant item names at least one partner country")
        words = len(item["text"].split())
        if not 80 <= words <= 200:
            problems.append(f"{where}: {words} words (80-200 expected)")
    assert not problems, "\n".join(problems)


def test_heldout_mix() -> None:
    items = _heldout()
    assert collections.Counter(i["language"] for i in items) == {"en": 12, "az": 12, "ru": 12,
                                                                 "tr": 12}  # fmt: skip
    share = sum(i["relevant"] for i in items) / len(items)
    assert 0.6 <= share <= 0.75
    domains = collections.Counter(d for i in items for d in i["domains"])
    assert all(domains[d] >= 2 for d in DOMAIN_IDS), domains
    partners = {c for i in items for c in i["countries"]}
    assert len(partners) >= 15


def _counts(text: str) -> dict[str, int]:
    return {label: int(n) for label, n in re.findall(r"^\| ([a-z-]+) \| (\d+) \|$", text, re.M)}


def test_readme_counts_match_the_file() -> None:
    items = _heldout()
    stated = _counts((DATA / "README.md").read_text(encoding="utf-8"))
    assert stated["relevant"] == sum(i["relevant"] for i in items)
    for domain in DOMAIN_IDS:
        assert stated[domain] == sum(domain in i["domains"] for i in items), domain
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert f"| not relevant | {sum(not i['relevant'] for i in items)} |" in readme
    assert f"{len(items)} short news items" in readme


def _shingles(text: str, size: int = 8) -> Iterator[tuple[str, ...]]:
    words = re.findall(r"\w+", text.casefold())
    for start in range(len(words) - size + 1):
        yield tuple(words[start : start + size])


@pytest.mark.skipif(not DEV.is_file(), reason="../shared/data/dev.jsonl is absent")
def test_heldout_shares_no_text_with_dev() -> None:
    dev: set[tuple[str, ...]] = set()
    with DEV.open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            dev.update(_shingles(item["title"] + " " + item["text"]))
    shared = sum(
        1 for item in _heldout() for s in _shingles(item["title"] + " " + item["text"]) if s in dev
    )
    assert shared == 0  # counts only: dev text is never printed


def test_cue_figures_on_heldout() -> None:
    """Prints micro-F1 of "a domain is tagged when it has >= k cue hits" on relevant items.

    A floor guards against a broken cue list; the figures are for reading, not for tuning.
    """
    taxonomy = load_taxonomy()
    items = [i for i in _heldout() if i["relevant"]]
    best = 0.0
    for k in (1, 2, 3):
        tp = fp = fn = 0
        for item in items:
            counts = collections.Counter(
                h.domain for h in taxonomy.find_cues(item["title"] + "\n\n" + item["text"])
            )
            predicted = {d for d, n in counts.items() if n >= k}
            gold = set(item["domains"])
            tp += len(predicted & gold)
            fp += len(predicted - gold)
            fn += len(gold - predicted)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        best = max(best, f1)
        print(f"k={k}: precision {precision:.2f}, recall {recall:.2f}, micro-F1 {f1:.2f}")
    assert best >= 0.6
