"""Labeled data: validation by the labeling guide, writing, seeds, passages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.dataset import (
    SEEDS_DIR,
    load_seeds,
    parse_labeled_lines,
    read_labeled,
    reference_section_start,
    split_passages,
    write_labeled,
)
from classifiers.errors import LabelError
from classifiers.types import LabeledItem


def _line(**overrides: object) -> str:
    item: dict[str, object] = {
        "id": "x1", "url": "https://example.org/a", "language": "en", "title": "A title",
        "text": "Some text.", "relevant": True, "countries": ["CN"],
        "domains": ["cardiology"],
    }
    item.update(overrides)
    return json.dumps({k: v for k, v in item.items() if v is not ...}, ensure_ascii=False)


def test_a_good_line_parses() -> None:
    [item] = parse_labeled_lines([_line()], source="t")
    assert item == LabeledItem("x1", "A title", "Some text.", True, ("CN",), ("cardiology",),
                               "en", "https://example.org/a")


def test_optional_fields_may_be_absent() -> None:
    [item] = parse_labeled_lines(
        [_line(url=..., language=..., title=..., countries=..., domains=...)], source="t")
    assert (item.url, item.language, item.title, item.countries, item.domains) == (
        "", None, "", (), ())


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"relevant": "true"}, "'relevant' must be true or false"),
        ({"relevant": 1}, "'relevant' must be true or false"),
        ({"countries": ["cn"]}, "not an ISO 3166-1 alpha-2 code in upper case"),
        ({"countries": ["CHN"]}, "not an ISO 3166-1 alpha-2 code"),
        ({"countries": ["QQ"]}, "unknown country code 'QQ'"),
        ({"countries": "CN"}, "'countries' must be a list"),
        ({"countries": ["CN", "CN"]}, "repeats 'CN'"),
        ({"domains": ["cardiology", "astrology"]}, "unknown domain id 'astrology'"),
        ({"domains": ["Cardiology"]}, "unknown domain id 'Cardiology'"),
        ({"relevant": False}, "not relevant has no countries and no domains"),
        ({"id": ""}, "'id' must be a non-empty string"),
        ({"id": ...}, "'id' must be a non-empty string"),
        ({"text": "   "}, "'text' must be a non-empty string"),
        ({"text": ...}, "'text' must be a non-empty string"),
        ({"language": "EN"}, "ISO 639-1"),
        ({"language": "eng"}, "ISO 639-1"),
        ({"language": "xx"}, "ISO 639-1"),
        ({"title": 5}, "'title' must be a string"),
    ],
)
def test_each_rule_of_the_guide_is_checked(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(LabelError) as info:
        parse_labeled_lines([_line(**overrides)], source="bad.jsonl")
    assert info.value.problems[0][0] == 1
    assert any(needle in message for _, message in info.value.problems), info.value.problems
    assert "bad.jsonl" in str(info.value)


def test_irrelevant_items_without_tags_and_null_language_are_fine() -> None:
    [item] = parse_labeled_lines(
        [_line(relevant=False, countries=[], domains=[], language=None)], source="t")
    assert not item.relevant and item.language is None


def test_every_bad_line_is_reported_by_number_and_nothing_is_accepted(tmp_path: Path) -> None:
    lines = [
        _line(id="ok1"),
        "",  # blank lines are skipped but still counted
        "{not json",
        _line(id="ok2"),
        _line(id="bad", countries=["XX"], domains=["nope"]),
        _line(id="ok1"),  # duplicate id
        "[1, 2]",
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LabelError) as info:
        read_labeled(path)
    numbers = [n for n, _ in info.value.problems]
    assert numbers == [3, 5, 5, 6, 7]
    messages = dict(info.value.problems)
    assert "not valid JSON" in messages[3]
    assert "already used on line 1" in messages[6]
    assert "JSON object" in messages[7]
    assert str(path) in str(info.value) and "line 5" in str(info.value)


def test_home_country_may_be_refused() -> None:
    with pytest.raises(LabelError, match="home country 'AZ'"):
        parse_labeled_lines([_line(countries=["AZ", "CN"])], source="t", home="AZ")
    assert parse_labeled_lines([_line(countries=["AZ"])], source="t")  # no home given


def test_not_utf8_is_a_label_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(LabelError, match="UTF-8"):
        read_labeled(path)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    items = [
        LabeledItem("a", "Başlıq", "Mətn: Azərbaycan və Çin.", True, ("CN",),
                    ("research", "oncology"), "az", "https://x.az/1"),
        LabeledItem("b", "", "Погода в Баку.", False, language="ru"),
    ]
    path = write_labeled(items, tmp_path / "sub" / "out.jsonl")
    assert read_labeled(path) == items
    raw = path.read_text(encoding="utf-8")
    assert "Azərbaycan" in raw  # not \u-escaped
    assert list(json.loads(raw.splitlines()[0])) == [
        "id", "url", "language", "title", "text", "relevant", "countries", "domains"]
    assert not list(tmp_path.glob("sub/.*"))  # no temporary file left behind


def test_seeds_load_and_follow_the_guide() -> None:
    seeds = load_seeds(SEEDS_DIR)
    assert len(seeds) == 5
    assert all(s.relevant and s.countries and s.domains for s in seeds)
    assert load_seeds() == seeds


# -- passages ---------------------------------------------------------------------


def test_passages_follow_paragraphs_and_target_size() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 30 for i in range(12)]
    text = "\n\n".join(paragraphs)
    passages = split_passages(text, target_chars=400)
    assert len(passages) > 3
    assert all(len(p) <= 400 for p in passages)
    # no paragraph is cut: each passage is whole paragraphs
    assert "\n\n".join(passages).split("\n\n") == [p.strip() for p in paragraphs]


def test_a_long_paragraph_is_cut_between_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    passages = split_passages(text, target_chars=300)
    assert len(passages) > 5
    assert all(p.endswith(".") for p in passages)
    assert all(len(p) <= 600 for p in passages)
    assert " ".join(passages) == text


def test_text_without_punctuation_or_breaks_is_still_cut() -> None:
    passages = split_passages("word " * 2000, target_chars=200)
    assert len(passages) > 10 and all(len(p) <= 400 for p in passages)


def test_reference_list_is_dropped() -> None:
    body = "\n\n".join(f"Body paragraph {i} about cooperation. " * 5 for i in range(6))
    refs = "\n".join(
        f"{i}. Author, A. ({2000 + i}). Some title. Journal, pp. 1-{i}. https://doi.org/10/{i}"
        for i in range(1, 15))
    text = f"{body}\n\n### References\n\n{refs}\n\nReceived: 05.11.2023"
    passages = split_passages(text)
    joined = "\n".join(passages)
    assert "Body paragraph 5" in joined
    assert "doi.org" not in joined and "References" not in joined and "Received" not in joined
    assert reference_section_start(text) == text.index("### References")


@pytest.mark.parametrize("heading", ["Ədəbiyyat", "Список литературы", "Kaynakça",
                                     "Bibliography:", "**References**", "Literaturverzeichnis"])
def test_reference_headings_in_several_languages(heading: str) -> None:
    text = "Intro paragraph. " * 40 + f"\n\n{heading}\n\n1. Someone (2020). A book."
    assert reference_section_start(text) == text.index(heading.strip("*")) - (
        2 if heading.startswith("**") else 0)
    assert all("Someone" not in p for p in split_passages(text))


def test_reference_heading_early_in_the_text_cuts_nothing() -> None:
    text = "References\n\n" + "A paragraph about the study. " * 40
    assert reference_section_start(text) == len(text)
    assert split_passages(text)[0].startswith("References")


def test_numbered_reference_entries_without_heading_are_dropped() -> None:
    refs = "\n".join(
        f"{i}. Ministry of Health. ({2010 + i}). \"A report\". [online] Available at: "
        f"https://example.org/{i}" for i in range(1, 8))
    text = "A paragraph about the visit of doctors. " * 10 + "\n\n" + refs
    passages = split_passages(text)
    assert passages and all("Available at" not in p for p in passages)


def test_seed_paper_loses_its_reference_list() -> None:
    paper = next(s for s in load_seeds() if s.id.startswith("002"))
    passages = split_passages(paper.text)
    assert len(passages) > 15
    assert all("[online] Available at" not in p for p in passages)
    assert any("Silk Road of Health" in p for p in passages)


def test_target_chars_must_be_sensible() -> None:
    with pytest.raises(ValueError, match="target_chars"):
        split_passages("text", target_chars=10)
