"""The country gazetteer and partner-country detection (classifiers.countries)."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

from classifiers.countries import (
    Gazetteer,
    load_gazetteer,
    partner_countries,
    party_codes,
)
from classifiers.types import CountryEvidence

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return load_gazetteer()


def codes_of(gaz: Gazetteer, text: str) -> list[str]:
    return [m.code for m in gaz.find(text)]


def evidence(title: str, text: str, code: str) -> CountryEvidence:
    found = {e.code: e for e in partner_countries(title, text)}
    return found[code]


# ---------------------------------------------------------------- inflected forms

AZ_FORMS = {
    "Çin": "CN", "Çində": "CN", "Çinin": "CN", "Çinlə": "CN", "Çinə": "CN", "Çindən": "CN",
    "çinli": "CN", "Çindəki": "CN", "Türkiyə": "TR", "Türkiyənin": "TR", "Türkiyədə": "TR",
    "Türkiyəyə": "TR", "Türkiyədən": "TR", "türk": "TR", "türklər": "TR", "İranla": "IR",
    "İranın": "IR", "Rusiyanın": "RU", "Rusiyaya": "RU", "Gürcüstanda": "GE",
    "Özbəkistandan": "UZ", "ukraynalı": "UA", "Qazaxıstanla": "KZ", "Almaniyada": "DE",
    "Daşkənddə": "UZ", "Tehrana": "IR", "Moskvada": "RU", "ABŞ": "US", "İsraillə": "IL",
}
RU_FORMS = {
    "Китай": "CN", "Китая": "CN", "Китаю": "CN", "Китаем": "CN", "Китае": "CN",
    "китайский": "CN", "китайская": "CN", "китайские": "CN", "китайских": "CN",
    "китайско": "CN", "Турция": "TR", "Турции": "TR", "Турцией": "TR", "Турцию": "TR",
    "турецкий": "TR", "турецкой": "TR", "России": "RU", "Россией": "RU", "российского": "RU",
    "Беларуси": "BY", "белорусской": "BY", "Израиля": "IL", "израильское": "IL",
    "Казахстаном": "KZ", "Узбекистане": "UZ", "Германии": "DE", "Ташкенте": "UZ",
    "Москве": "RU", "США": "US", "Грузией": "GE",
}
TR_FORMS = {
    "Çin'de": "CN", "Çin'in": "CN", "Çin": "CN", "Çinli": "CN", "Çin’den": "CN",
    "Türk": "TR", "Türkiye’nin": "TR", "Türkiye'ye": "TR", "Türkiyeli": "TR", "Rusya'da": "RU",
    "Rusya’nın": "RU", "İran'a": "IR", "Almanya'dan": "DE", "Irak'ta": "IQ",
    "Gürcistan'la": "GE", "Azerbaycan'ın": "AZ", "Kazakistan’da": "KZ", "ABD'nin": "US",
    "Taşkent'te": "UZ",
}
EN_FORMS = {
    "China": "CN", "Chinese": "CN", "Turkey": "TR", "Türkiye": "TR", "Turkiye": "TR",
    "Turkish": "TR", "Israel's": "IL", "Israeli": "IL", "South Korea": "KR", "Korean": "KR",
    "Saudi Arabia's": "SA", "Kyrgyz": "KG", "Uzbek": "UZ", "United States": "US",
    "Tashkent": "UZ", "Urumqi": "CN", "Astana": "KZ", "Tbilisi": "GE",
}
DE_FORMS = {
    "Deutschland": "DE", "Deutschlands": "DE", "deutschen": "DE", "Türkei": "TR",
    "russische": "RU", "Aserbaidschan": "AZ", "Usbekistan": "UZ", "chinesischen": "CN",
}
KA_FORMS = {
    "საქართველოს": "GE", "საქართველოში": "GE", "საქართველოსთვის": "GE", "რუსეთთან": "RU",
    "თურქეთმა": "TR", "აზერბაიჯანის": "AZ", "ჩინეთში": "CN", "ბაქოში": "AZ",
}


@pytest.mark.parametrize(
    "forms",
    [AZ_FORMS, RU_FORMS, TR_FORMS, EN_FORMS, DE_FORMS, KA_FORMS],
    ids=["az", "ru", "tr", "en", "de", "ka"],
)
def test_inflected_forms_are_found(gaz: Gazetteer, forms: dict[str, str]) -> None:
    wrong = {}
    for form, code in forms.items():
        found = gaz.find(f"Bu gün {form} barədə. ")
        got = [m.code for m in found]
        if got != [code] or found[0].surface != form:
            wrong[form] = [(m.surface, m.code) for m in found]
    assert not wrong


def test_other_languages_from_pycountry(gaz: Gazetteer) -> None:
    # Serbian (Cyrillic and Latin), Polish, Ukrainian, Kazakh, Arabic, Persian, Chinese
    assert codes_of(gaz, "министарка здравља Србије и руски министар") == ["RS", "RU"]
    assert codes_of(gaz, "ministar zdravlja Srbije i Rusije") == ["RS", "RU"]
    assert codes_of(gaz, "Współpraca Polski z Ukrainą i Turcją") == ["PL", "UA", "TR"]
    assert codes_of(gaz, "делегація України в Китаї") == ["UA", "CN"]
    assert codes_of(gaz, "Қазақстан мен Қытайдың ынтымақтастығы") == ["KZ", "CN"]
    assert codes_of(gaz, "وزير الصحة الروسي في أذربيجان وروسيا") == ["RU", "AZ", "RU"]
    assert codes_of(gaz, "همکاری چین و ازبکستان در تاشکند") == ["CN", "UZ", "UZ"]
    assert codes_of(gaz, "中国和乌兹别克斯坦的合作") == ["CN", "UZ"]
    assert codes_of(gaz, "Kooperation zwischen Frankreich und Italien") == ["FR", "IT"]


def test_longest_match_wins_and_mentions_do_not_overlap(gaz: Gazetteer) -> None:
    found = gaz.find("South Korea, North Korean doctors, Papua New Guinea, Equatorial Guinea")
    assert [(m.surface, m.code) for m in found] == [
        ("South Korea", "KR"), ("North Korean", "KP"), ("Papua New Guinea", "PG"),
        ("Equatorial Guinea", "GQ")]
    text = "Xinjiang Medical University signed with Ankara City Hospital"
    found = gaz.find(text)
    assert [(m.code, m.kind) for m in found] == [("CN", "city"), ("TR", "capital")]
    assert all(text[m.start:m.end] == m.surface for m in found)


def test_ambiguous_words_are_not_countries(gaz: Gazetteer) -> None:
    assert codes_of(gaz, "We ate turkey and chinese food from fine china.") == []
    assert codes_of(gaz, "Fans cheered Michael Jordan at the Turkic World games.") == []
    assert codes_of(gaz, "The grant totals 2 million US dollars; call us.") == []
    assert codes_of(gaz, "Кроме того, до того как он пришёл, мали") == []
    assert codes_of(gaz, "Hastanelere mali destek verildi.") == []
    assert codes_of(gaz, "Türk Dövlətləri Təşkilatının sammiti, türk dünyası") == []
    assert codes_of(gaz, "The clinic in Georgia (Tbilisi) and Jordan's ministry") == [
        "GE", "GE", "JO"]
    assert codes_of(gaz, "Toplantı ABD'nin ve Rusya'nın katılımıyla yapıldı") == ["US", "RU"]


def test_names_and_cache(gaz: Gazetteer) -> None:
    assert load_gazetteer() is gaz
    names = gaz.names("TR")
    assert "Türkiye" in names and "Turkey" in names and "Türkiyə" in names and "Турция" in names
    assert gaz.names("XX") == ()
    assert len(gaz.codes()) == 249


def test_find_speed_on_a_3000_character_article(gaz: Gazetteer) -> None:
    para = ("Azerbaijan's health minister met the ambassador of Türkiye in Baku on Monday. "
            "The sides discussed joint projects with Uzbekistan, Kazakhstan and China, "
            "training of doctors and the exchange of students between medical universities. ")
    text = (para * 20)[:3000]
    gaz.find(text)
    runs = 50
    t0 = time.perf_counter()
    for _ in range(runs):
        found = gaz.find(text)
    ms = (time.perf_counter() - t0) / runs * 1000
    print(f"\nfind() on {len(text)} characters: {ms:.3f} ms, {len(found)} mentions")
    assert found


# ---------------------------------------------------------------- parties

def test_demonym_names_a_party() -> None:
    title = "Health ministers meet in Baku"
    text = ("Azerbaijan's Minister of Health received a delegation led by the deputy minister. "
            "The Turkish side offered to train Azerbaijani nurses in intensive care.")
    assert party_codes(title, text) == ("TR",)
    e = evidence(title, text, "TR")
    assert e.party and e.score >= 0.5
    assert any("side" in r for r in e.reasons)


def test_city_and_institution_name_their_country() -> None:
    title = "Baku clinic signs memorandum with Xinjiang Medical University"
    text = ("The memorandum provides for joint research in cardiology and the training of "
            "surgeons. Doctors from Ankara will also join the programme next year.")
    assert party_codes(title, text) == ("CN", "TR")


def test_home_country_is_never_a_party() -> None:
    title = "Azerbaijan and Latvia sign health cooperation memorandum"
    text = ("Azerbaijani-Latvian cooperation in medical education will grow, the ministers "
            "said in Baku. Latvian doctors will train in Azerbaijan.")
    assert party_codes(title, text) == ("LV",)
    found = {e.code: e for e in partner_countries(title, text)}
    assert found["AZ"].party is False and "home country" in found["AZ"].reasons
    lv = found["LV"]
    assert any("joined with the home country" in r for r in lv.reasons)
    assert all(m.code == "LV" for m in lv.mentions)
    # another home: Latvia's own news about Azerbaijan
    assert party_codes(title, text, home="LV") == ("AZ",)


def test_item_without_the_home_country_lists_every_party() -> None:
    title = "China and Kazakhstan open a joint telemedicine centre"
    text = ("Hospitals in Urumqi and Almaty will hold remote consultations. The Chinese side "
            "will supply equipment, and Kazakh doctors will be trained in Xinjiang.")
    assert party_codes(title, text) == ("CN", "KZ")


def test_group_expands_only_to_named_members() -> None:
    text = ("A hospital in Urumqi treats heart patients from neighbouring Central Asian "
            "countries, chiefly Tajikistan and Kyrgyzstan, under a Chinese programme.")
    assert party_codes("", text) == ("CN", "KG", "TJ")
    text2 = ("Azerbaijan discussed cooperation with the EU and with all Central Asian "
             "nations at the WHO regional meeting.")
    assert party_codes("", text2) == ()


def test_reference_list_adds_no_parties() -> None:
    title = "Joint study of tuberculosis by Azerbaijani and Turkish researchers"
    text = (
        "Researchers from Baku and Ankara compared treatment outcomes in a joint study.\n"
        "The cooperation will continue with a second trial.\n\n"
        "References\n"
        "1. Smith J., Brown A. Tuberculosis in Germany and France. Lancet. 2019;12:1-9.\n"
        "2. Ivanov I.I. Tuberculosis in Russia // Journal of Phthisiology. 2020. С. 5-9.\n"
        "3. Chen L. et al. TB control in China, Japan and India (2018). doi:10.1/x\n"
        "4. Aliyev R. Tuberculosis in Iran and Georgia. Baku: Elm, 2017. 200 p.\n"
    )
    assert party_codes(title, text) == ("TR",)
    found = {e.code: e for e in partner_countries(title, text)}
    assert not found["DE"].party and "only in references" in found["DE"].reasons
    for code in ("RU", "CN", "JP", "IN", "IR", "GE", "FR"):
        assert not found[code].party


def test_citation_lines_outside_a_reference_section() -> None:
    text = ("Azerbaijani and Turkish surgeons signed a joint training programme in Ankara.\n"
            "[1] Müller K. et al. Heart surgery in Germany. Eur Heart J. 2021;4:5-9. "
            "doi:10.1/abc\n")
    assert party_codes("", text) == ("TR",)


def test_comparison_is_not_a_party() -> None:
    title = "Kazakhstan and Azerbaijan to cooperate in oncology"
    text = ("The health ministers signed an agreement in Astana on cancer care. Survival "
            "rates remain lower than in Germany, the Kazakh minister noted, and patients "
            "used to travel to Israel for treatment.")
    assert party_codes(title, text) == ("KZ",)
    de = evidence(title, text, "DE")
    assert not de.party and any(r.startswith("comparison") for r in de.reasons)


def test_venue_and_birthplace_are_not_parties() -> None:
    text = ("Azerbaijan's health minister met his Uzbek counterpart on the sidelines of a "
            "summit held in Istanbul. Uzbekistan will send doctors to Baku. The minister, "
            "who was born in Russia, praised the joint work with Uzbekistan.")
    assert party_codes("", text) == ("UZ",)


def test_routes_are_not_parties() -> None:
    text = ("Azerbaijan and Turkey agreed to build two hospitals together. Both countries "
            "also run the Baku-Tbilisi-Ceyhan pipeline and the Baku–Grozny flights.")
    assert party_codes("", text) == ("TR",)


def test_international_organisations_are_not_countries() -> None:
    text = ("Azerbaijan's Ministry of Health and the World Health Organization signed a "
            "two-year cooperation agreement; UNICEF will supply vaccines.")
    assert party_codes("", text) == ()


# ---------------------------------------------------------------- in other languages

def test_azerbaijani_item() -> None:
    title = "Azərbaycan və Türkiyə səhiyyə nazirləri görüşüb"
    text = ("Türkiyənin səhiyyə naziri Bakıda səfərdə olub. Tərəflər Çindən gətirilən "
            "avadanlıqla müqayisədə yerli istehsalı müzakirə ediblər. Türk həkimləri "
            "Gəncədə təlim keçəcək.")
    assert party_codes(title, text) == ("TR",)


def test_russian_item() -> None:
    title = "Азербайджан и Беларусь подписали меморандум о сотрудничестве в здравоохранении"
    text = ("Министр здравоохранения Азербайджана встретился с белорусской делегацией в Баку. "
            "Стороны договорились об обмене врачами. По сравнению с Германией расходы ниже.")
    assert party_codes(title, text) == ("BY",)


def test_turkish_item() -> None:
    title = "Türkiye ile Azerbaycan arasında sağlık alanında işbirliği protokolü imzalandı"
    text = ("Sağlık Bakanı, Bakü'de Azerbaycanlı mevkidaşıyla görüştü. Bakan daha önce "
            "Özbekistan'da düzenlenen zirvede de bulunmuştu. Türk doktorlar Gence'de eğitim "
            "verecek.")
    assert party_codes(title, text) == ("TR",)


def test_german_item() -> None:
    title = "Kooperation mit Aserbaidschan"
    text = ("Das Deutsche Herzzentrum in Berlin hat mit einer Klinik in Baku ein Memorandum "
            "unterzeichnet. Geplant sind gemeinsame Fortbildungen für Ärzte.")
    assert party_codes(title, text) == ("DE",)


def test_georgian_item() -> None:
    text = ("საქართველოს ჯანდაცვის მინისტრი აზერბაიჯანის ჯანდაცვის მინისტრს ბაქოში შეხვდა. "
            "მხარეებმა საქართველოსა და აზერბაიჯანს შორის თანამშრომლობა განიხილეს.")
    assert party_codes("", text) == ("GE",)


def test_evidence_is_kept() -> None:
    title = "Israel's ambassador visits Baku hospital"
    text = "The Israeli embassy donated equipment. Israel and Azerbaijan are partners."
    e = evidence(title, text, "IL")
    assert e.party and 0.5 <= e.score <= 1.0
    assert {m.surface for m in e.mentions} == {"Israel's", "Israeli", "Israel"}
    assert "in title" in e.reasons
    assert any(r.startswith("near ") for r in e.reasons)
    full = f"{title}\n\n{text}"
    assert all(full[m.start:m.end] == m.surface for m in e.mentions)


def test_empty_text() -> None:
    assert partner_countries("", "") == []
    assert party_codes("", "   ") == ()


def test_members_named_after_a_group_are_parties() -> None:
    text = ("Azerbaijan has sent humanitarian aid to more than 30 countries, including "
            "Turkey, Syria and Pakistan, the Health Ministry said.")
    assert party_codes("", text) == ("PK", "SY", "TR")


def test_an_actor_word_belongs_to_its_own_country() -> None:
    title = "В Баку прошла встреча министров здравоохранения Азербайджана и Узбекистана"
    text = "Стороны обсудили подготовку кадров. Ранее узбекская делегация посетила Москву."
    assert party_codes(title, text) == ("UZ",)


def test_an_organisation_seat_is_not_a_partner() -> None:
    title = "WHO praises Azerbaijan's vaccination campaign"
    text = ("The WHO Regional Office for Europe in Copenhagen said Azerbaijan had vaccinated "
            "90% of children. Similar campaigns ran in Georgia and Armenia last year.")
    assert party_codes(title, text) == ()


def test_invalid_data_raises_gazetteer_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from classifiers import gazetteer
    from classifiers.errors import GazetteerError

    for bad in ({"country": {"XX": {"en": ["Nowhere"]}}},
                {"country": {"TR": {"en_colour": ["Red"]}}},
                {"country": {"TR": {"en": 5}}},
                {"capitals": {"QQ": "Qville"}}):
        monkeypatch.setattr(gazetteer, "_read_toml", lambda name, bad=bad: bad)
        with pytest.raises(GazetteerError):
            gazetteer.build_gazetteer()


# ---------------------------------------------------------------- the compiled gazetteer

SAMPLES = [
    "South Korea, North Korean doctors, Papua New Guinea, Equatorial Guinea",
    "Xinjiang Medical University signed with Ankara City Hospital in Saudi Arabia's capital",
    "Toplantı ABD'nin ve Rusya'nın katılımıyla Çin'de, Türkiye’nin Kazakistan’da",
    "Azərbaycan–Türkiyə, Çinlə, Daşkənddə, İsraillə; Министр Узбекистана в Ташкенте",
    "همکاری چین و ازبکستان در تاشکند; 中国和乌兹别克斯坦的合作; საქართველოში",
    "Michael Jordan and Jordan's ministry; the clinic in Georgia (Tbilisi), Sofia",
]


def test_the_compiled_gazetteer_finds_what_the_built_one_does(gaz: Gazetteer) -> None:
    from classifiers.gazetteer import source_key

    key = source_key()
    compiled = Gazetteer.from_json(gaz.to_json(key), key)
    assert compiled is not None and compiled.size == gaz.size > 100_000
    for text in SAMPLES:
        assert compiled.find(text) == gaz.find(text), text
    assert compiled.codes() == gaz.codes() and compiled.names("TR") == gaz.names("TR")
    assert compiled.is_weak("Sofia", "BG") == gaz.is_weak("Sofia", "BG")


def test_a_stale_or_broken_compiled_gazetteer_is_not_used(gaz: Gazetteer) -> None:
    from classifiers.gazetteer import source_key

    text = gaz.to_json(source_key())
    assert Gazetteer.from_json(text, "another key") is None  # data or code changed
    assert Gazetteer.from_json(text[: len(text) // 2], source_key()) is None  # cut short
    assert Gazetteer.from_json(b"\x80\x03not json", source_key()) is None
    assert Gazetteer.from_json(text.replace('"single":{', '"single":{"x":99999999,', 1),
                               source_key()) is None  # an entry out of range


def test_the_key_follows_the_data_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from classifiers import gazetteer

    before = gazetteer.source_key()
    assert before == gazetteer.source_key() and len(before) == 64
    monkeypatch.setattr(gazetteer, "DATA_FILE", "countries_cues.toml")  # other bytes
    gazetteer.source_key.cache_clear()
    try:
        assert gazetteer.source_key() != before
    finally:
        monkeypatch.undo()
        gazetteer.source_key.cache_clear()
    assert gazetteer.source_key() == before


def test_a_new_process_reads_the_compiled_gazetteer_and_rebuilds_a_stale_one(
    gaz: Gazetteer, tmp_path: Path
) -> None:
    from classifiers.gazetteer import COMPILED_FILE, save_compiled

    path = save_compiled(tmp_path)
    assert path == tmp_path / COMPILED_FILE
    code = (
        "import sys, time\n"
        "from classifiers.gazetteer import load_gazetteer\n"
        "t = time.process_time()\n"
        "g = load_gazetteer(sys.argv[1])\n"
        "print(time.process_time() - t, [m.code for m in g.find(sys.argv[2])])\n"
    )
    text = "Azerbaijan and Türkiye signed with Uzbekistan's ministry in Tashkent"

    def run() -> tuple[float, list[str]]:
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path), text], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout.split(" ", 1)
        return float(out[0]), ast.literal_eval(out[1])

    seconds, codes = run()
    assert codes == [m.code for m in gaz.find(text)] == ["AZ", "TR", "UZ", "UZ"]
    print(f"\ncompiled gazetteer read in {seconds:.2f} s of CPU")
    stale = path.read_text(encoding="utf-8").replace('"key":"', '"key":"0', 1)
    path.write_text(stale, encoding="utf-8")
    assert run()[1] == codes  # built afresh, and written back
    assert path.read_text(encoding="utf-8") != stale
