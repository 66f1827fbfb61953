"""The classifier: training on the seeds, predictions in four languages, evidence,
the safe saved format, and evaluation."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from classifiers import (
    DOMAIN_IDS,
    Classifier,
    Document,
    LabeledItem,
    ModelMismatchError,
    ModelNotFoundError,
    Prediction,
    cross_validate,
    evaluate,
    load_model,
    read_sidecar,
    train,
)
from classifiers.evaluation import score
from classifiers.examples import build_examples
from classifiers.features import FeatureSettings, Featurizer, hash_text, normalise
from classifiers.persistence import COMPILED_FILE, SIDECAR, WEIGHTS
from classifiers.taxonomy import load_taxonomy

# (document, relevant, countries, a domain that must be among the tags)
CASES = [
    (Document("en", "Azerbaijan and Türkiye sign memorandum on cardiac surgery",
              "The health ministers of Azerbaijan and Türkiye signed a memorandum of "
              "understanding in Baku on cooperation in cardiology. Turkish cardiac surgeons "
              "will train Azerbaijani doctors in heart surgery and heart failure treatment "
              "at a cardiology centre in Ankara.", "en"),
     True, ("TR",), "cardiology"),
    (Document("az", "Azərbaycan və Çin onkologiya sahəsində əməkdaşlığı genişləndirir",
              "Azərbaycanın səhiyyə naziri Çinin Azərbaycandakı səfiri ilə görüşüb. Görüşdə "
              "onkologiya sahəsində əməkdaşlıq, xərçəng xəstələrinin müalicəsi və şüa "
              "terapiyası üzrə birgə layihələr müzakirə olunub. Tərəflər Pekindəki onkoloji "
              "mərkəzlə həkimlərin təcrübə mübadiləsi barədə razılığa gəliblər.", "az"),
     True, ("CN",), "oncology"),
    (Document("ru", "Азербайджан и Израиль развивают сотрудничество в сфере телемедицины",
              "Министр здравоохранения Азербайджана встретился с послом Израиля в Баку. "
              "Стороны обсудили сотрудничество в области телемедицины: израильские клиники "
              "будут проводить дистанционные консультации для азербайджанских пациентов.",
              "ru"),
     True, ("IL",), "telemedicine"),
    (Document("tr", "Türkiye ile Azerbaycan arasında aşı işbirliği",
              "Türkiye Sağlık Bakanı, Azerbaycan Sağlık Bakanı ile Ankara'da bir araya geldi. "
              "İki ülke, aşı üretimi ve salgın hastalıklarla mücadele konusunda işbirliği "
              "anlaşması imzaladı. Türk tarafı Azerbaycan'a aşı ve tıbbi malzeme gönderecek.",
              "tr"),
     True, ("TR",), "infectious-disease"),
    (Document("en-domestic", "New cardiology ward opens in Ganja",
              "The Ministry of Health opened a new cardiology ward at the Ganja city hospital. "
              "The ward has 40 beds and modern equipment for heart surgery, the ministry "
              "said. Patients from the region will be treated under compulsory health "
              "insurance.", "en"),
     False, (), None),
    (Document("az-energy", "Azərbaycan və Türkiyə enerji sahəsində saziş imzalayıb",
              "Azərbaycan və Türkiyə enerji nazirləri Bakıda qaz tədarükü və neft kəməri üzrə "
              "əməkdaşlıq sazişi imzalayıblar. Tərəflər ticarət dövriyyəsinin artırılmasını "
              "və bərpa olunan enerji layihələrini müzakirə ediblər.", "az"),
     False, (), None),
    (Document("ru-sport", "Сборная Азербайджана по футболу сыграла вничью",
              "Сборная Азербайджана по футболу сыграла вничью со сборной Казахстана в Баку. "
              "Матч завершился со счетом 1:1, болельщики заполнили стадион.", "ru"),
     False, (), None),
    (Document("tr-abroad", "İstanbul'da yeni şehir hastanesi açıldı",
              "Sağlık Bakanlığı İstanbul'da 2 bin yataklı yeni şehir hastanesini hizmete açtı. "
              "Hastanede kalp cerrahisi, onkoloji ve çocuk hastalıkları bölümleri bulunuyor.",
              "tr"),
     False, (), None),
]


@pytest.fixture(scope="module")
def clf(seeds_model: Classifier) -> Classifier:
    return seeds_model  # trained once per session (tests/conftest.py)


@pytest.fixture(scope="module")
def predictions(clf: Classifier) -> dict[str, Prediction]:
    return {p.id: p for p in clf.predict([case[0] for case in CASES])}


@pytest.mark.parametrize(("doc", "relevant", "countries", "domain"), CASES,
                         ids=[case[0].id for case in CASES])
def test_sensible_tags_in_four_languages(
    predictions: dict[str, Prediction], doc: Document, relevant: bool,
    countries: tuple[str, ...], domain: str | None,
) -> None:
    p = predictions[doc.id]
    assert p.relevant is relevant, p
    assert p.countries == countries, p
    if domain:
        assert domain in p.domains, p
        assert p.relevance >= 0.5
    else:
        assert p.domains == () and p.relevance < 0.5


def test_prediction_fields(clf: Classifier, predictions: dict[str, Prediction]) -> None:
    for p in predictions.values():
        assert set(p.scores) == set(DOMAIN_IDS)
        assert all(0.0 <= v <= 1.0 for v in p.scores.values())
        assert 0.0 <= p.relevance <= 1.0
        assert p.model_version == clf.version and len(clf.version) == 12
        assert set(p.evidence) <= {"relevant", *p.countries, *p.domains}
        if p.relevant:
            assert p.evidence["relevant"] and all(p.evidence[c] for c in p.countries)
        else:
            assert not p.evidence
    en = predictions["en"]
    assert "Türkiye" in en.evidence["TR"] and "cardiology" in en.evidence["cardiology"]


def test_explain_gives_positions_into_its_text(clf: Classifier) -> None:
    doc = CASES[1][0]
    explanation = clf.explain(doc)
    assert explanation.prediction.relevant and explanation.prediction.countries == ("CN",)
    assert explanation.text.startswith(doc.title)
    for tag, items in explanation.evidence.items():
        assert items, tag
        for e in items:
            assert explanation.text[e.start:e.end] == e.text, (tag, e)
    kinds = {e.kind for e in explanation.evidence["CN"]}
    assert kinds == {"country"}
    assert {e.kind for e in explanation.evidence["oncology"]} >= {"cue"}
    assert explanation.features["party_any"] == 1.0
    shown = str(explanation)
    assert "relevant" in shown and "oncology" in shown and "Çin" in shown


def test_reference_lists_are_not_read(clf: Classifier) -> None:
    body = ("The health ministries of Azerbaijan and Latvia agreed on cooperation in medical "
            "education and digital health. Latvian experts will train doctors in Baku. " * 3)
    refs = "\n".join(f"{i}. Ministry of Health of Japan ({2010 + i}). Report. "
                     f"https://example.jp/{i}" for i in range(1, 10))
    p = clf.predict([Document("r", "Azerbaijan and Latvia", f"{body}\n\nReferences\n\n{refs}")])
    assert p[0].countries == ("LV",)


def test_training_is_deterministic_and_extra_labels_count(clf: Classifier) -> None:
    again = train([])
    assert again.version == clf.version
    extra = LabeledItem("x-neg", "Weather", "Sunny in Baku tomorrow, 25 degrees.", False,
                        language="en")
    other = train([extra])
    assert other.metadata["training_digest"] != clf.metadata["training_digest"]
    assert other.metadata["labeled_items"] == 6
    assert other.version != clf.version


def test_metadata(clf: Classifier) -> None:
    m = clf.metadata
    assert m["taxonomy_version"] == load_taxonomy().version
    assert m["labeled_items"] == 5 and m["home"] == "AZ"
    assert {"item", "passage", "domestic", "no-health", "snippet"} <= set(m["examples"])
    cv = m["metrics"]["cross_validated_on_training_examples"]
    assert 0.0 < cv["relevance_cv_f1"] <= 1.0 and 0.0 < cv["domains_cv_micro_f1"] <= 1.0


def test_honest_negatives_have_no_party_or_no_health() -> None:
    taxonomy = load_taxonomy()
    featurizer = Featurizer(taxonomy, FeatureSettings())
    seed = LabeledItem("s", "Azerbaijan and Latvia discuss medical education",
                       "The health ministers of Azerbaijan and Latvia met in Baku. Latvian "
                       "doctors will train Azerbaijani nurses, and both sides agreed on "
                       "cooperation in cardiology.", True, ("LV",),
                       ("medical-education",), "en")
    examples = build_examples([seed], featurizer)
    by_source: dict[str, list[str]] = {}
    for ex in examples:
        by_source.setdefault(ex.source, []).append(f"{ex.title}\n\n{ex.text}")
    assert {"domestic", "abroad", "no-health", "other-fields", "snippet"} <= set(by_source)
    for text in by_source["domestic"]:
        assert "Latvia" not in text and "Azerbaijan" in text
    for text in by_source["abroad"]:
        assert "Latvia" in text and "Azerbaijan" not in text
    for text in by_source["no-health"] + by_source["other-fields"]:
        assert "health" not in text and "doctors" not in text and "cardiology" not in text
    languages = {ex.group.split(":")[1] for ex in examples if ex.source == "snippet"}
    assert {"en", "az", "ru", "tr"} <= languages


def test_hashing_is_stable_and_language_agnostic() -> None:
    settings = FeatureSettings()
    a = hash_text("İstanbul'da Sağlık", settings)
    b = hash_text("istanbul da sağlik", settings)  # İ folds to i; punctuation is a space
    assert normalise("İSTANBUL") == " istanbul "
    assert np.array_equal(a[0], hash_text("İstanbul'da Sağlık", settings)[0])
    assert a[0].size > 10 and b[0].size > 10
    assert hash_text("", settings)[0].size == 0


# -- saved models --------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(seeds_model_dir: Path) -> Path:
    return seeds_model_dir  # clf, saved once per session (tests/conftest.py)


def test_save_load_round_trip_gives_identical_predictions(
    clf: Classifier, saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pickle(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    loaded = load_model(saved)  # load time is measured in tests/benchmarks/classify.py
    docs = [case[0] for case in CASES]
    assert loaded.predict(docs) == clf.predict(docs)
    assert loaded.version == clf.version
    assert loaded.explain(docs[0]).evidence == clf.explain(docs[0]).evidence


def test_no_pickle_is_ever_written(saved: Path) -> None:
    # the model's two files, and the compiled gazetteer (plain JSON) as a cache
    assert sorted(p.name for p in saved.iterdir()) == [COMPILED_FILE, SIDECAR, WEIGHTS]
    assert isinstance(json.loads((saved / COMPILED_FILE).read_text(encoding="utf-8")), dict)
    with zipfile.ZipFile(saved / WEIGHTS) as z:
        names = z.namelist()
        assert names and all(n.endswith(".npy") for n in names)
        for name in names:
            header = z.read(name)[:128]
            assert header.startswith(b"\x93NUMPY") and b"'O'" not in header
    with np.load(saved / WEIGHTS, allow_pickle=False) as npz:
        assert all(npz[n].dtype != object for n in npz.files)
    raw = (saved / WEIGHTS).read_bytes()
    assert not raw.startswith(b"\x80")  # not a pickle stream


def test_sidecar_records_what_made_the_model(clf: Classifier, saved: Path) -> None:
    side = read_sidecar(saved)
    assert side["format_version"] == 1 and side["model_version"] == clf.version
    assert set(side["libraries"]) >= {"python", "numpy", "scikit-learn"}
    assert side["taxonomy_version"] == load_taxonomy().version
    assert side["training_digest"] == clf.metadata["training_digest"]
    assert side["created"].endswith("+00:00")
    assert side["feature_settings"] == FeatureSettings().to_dict()
    assert side["metrics"]["cross_validated_on_training_examples"]
    assert set(side["arrays"]) == {"hashed_rows", "hashed_values", "engineered", "bias",
                                   "eng_mean", "eng_scale", "profile", "profile_bias",
                                   "prof_mean", "prof_scale", "platt", "thresholds"}


def _tamper(saved: Path, tmp_path: Path, **changes: object) -> Path:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / WEIGHTS).write_bytes((saved / WEIGHTS).read_bytes())
    side = json.loads((saved / SIDECAR).read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(side.get(key), dict):
            side[key] = {**side[key], **value}
        else:
            side[key] = value
    (copy / SIDECAR).write_text(json.dumps(side), encoding="utf-8")
    return copy


@pytest.mark.parametrize(("changes", "needle"), [
    ({"taxonomy_version": "000000000000"}, "taxonomy version"),
    ({"format_version": 99}, "format version"),
    ({"feature_settings": {"n_features": 1024}}, "checksum|shapes"),
    ({"feature_settings": {"version": 0}}, "features version"),
    ({"domain_ids": ["cardiology"]}, "domain ids"),
    ({"model_version": "abcdefabcdef"}, "version"),
])
def test_a_tampered_sidecar_is_refused(
    saved: Path, tmp_path: Path, changes: dict[str, object], needle: str
) -> None:
    with pytest.raises(ModelMismatchError, match=needle):
        load_model(_tamper(saved, tmp_path, **changes))


def test_tampered_weights_are_refused(saved: Path, tmp_path: Path) -> None:
    copy = _tamper(saved, tmp_path)
    with np.load(saved / WEIGHTS, allow_pickle=False) as npz:
        arrays = {n: npz[n] for n in npz.files}
    arrays["bias"] = arrays["bias"] + 1.0
    np.savez(copy / WEIGHTS, **arrays)
    with pytest.raises(ModelMismatchError, match="checksum"):
        load_model(copy)


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        load_model(tmp_path / "nothing")
    (tmp_path / SIDECAR).write_text("{}", encoding="utf-8")
    with pytest.raises(ModelNotFoundError):  # no weights beside it
        load_model(tmp_path)


# -- evaluation ----------------------------------------------------------------------


def _pred(pid: str, relevant: bool, countries: tuple[str, ...] = (),
          domains: tuple[str, ...] = ()) -> Prediction:
    return Prediction(pid, relevant, 0.9 if relevant else 0.1, countries, domains, {}, "v")


def test_scores_follow_the_guide() -> None:
    gold = [
        LabeledItem("1", "", "t", True, ("CN", "KZ"), ("research", "oncology"), "en"),
        LabeledItem("2", "", "t", True, ("TR",), ("cardiology",), "az"),
        LabeledItem("3", "", "t", False, language="az"),
        LabeledItem("4", "", "t", False, language="en"),
    ]
    preds = [
        _pred("1", True, ("CN",), ("research", "cardiology")),
        _pred("2", False),  # a miss: its countries and domains are missed too
        _pred("3", True, ("RU",), ("oncology",)),  # a false alarm: relevance only
        _pred("4", False),
    ]
    report = score(gold, preds, DOMAIN_IDS)
    overall = report.overall
    assert (overall.relevance.tp, overall.relevance.fp, overall.relevance.fn) == (1, 1, 1)
    assert (overall.countries.tp, overall.countries.fp, overall.countries.fn) == (1, 0, 2)
    assert (overall.domains.tp, overall.domains.fp, overall.domains.fn) == (1, 1, 2)
    assert overall.per_domain["research"].f1 == 1.0
    assert overall.per_domain["oncology"].f1 == 0.0
    assert set(report.groups) == {"all", "en", "non-en", "az"}
    assert report.groups["en"].relevance.f1 == 1.0
    assert report.groups["non-en"].relevance.f1 == 0.0
    d = report.to_dict()
    json.dumps(d)
    assert d["groups"]["all"]["countries_micro"]["recall"] == round(1 / 3, 4)
    table = report.table()
    assert "relevance" in table and "non-en" in table and "oncology" in table
    with pytest.raises(ValueError, match="no prediction"):
        score(gold, preds[:2], DOMAIN_IDS)


def test_evaluate_and_cross_validate(clf: Classifier) -> None:
    items = [
        LabeledItem(case[0].id, case[0].title, case[0].text, case[1], case[2],
                    (case[3],) if case[3] else (), case[0].language)
        for case in CASES
    ]
    report = evaluate(clf, items)
    assert report.overall.relevance.f1 == 1.0 and report.model_version == clf.version
    cv = cross_validate(items, folds=2, seed=1)
    assert cv.overall.items == len(items) and "2-fold" in cv.note
    with pytest.raises(ValueError, match="folds"):
        cross_validate(items, folds=1)
