"""The country gazetteer: names, demonyms and cities of every ISO 3166-1 country.

Built once, lazily (:func:`load_gazetteer`), from three sources:

* pycountry: the English name, common name and official name of every country, and
  their translations in every locale pycountry ships (gettext domain ``iso3166-1``);
* ``data/countries.toml`` (hand kept): capitals of all countries, and for the countries
  that matter most here names, demonyms, adjectives, cities and institutions in
  English, Azerbaijani, Russian, Turkish and more languages;
* inflection rules: the case forms Azerbaijani, Turkish, Russian, Ukrainian, Serbian,
  Polish, Georgian, German, Arabic, Persian and other Turkic languages build on a name
  (vowel harmony for the Turkic ones, case endings by stem class for the Slavic ones).

Matching is on words: the text is cut into Unicode words, each folded (case, Turkish
dotted/dotless i, accents), and looked up in tables of word sequences (one word, or
several joined, tried from the longest a first word begins); the longest match at each
place wins and matches do not overlap.  Scripts written without spaces (Chinese,
Japanese, Korean, Thai) are matched by substring.

Building takes a second or two (123,000 surface forms), so a built gazetteer can be
saved compiled, as JSON, beside a model (:func:`save_compiled`) and read back in a
fraction of that (:func:`load_gazetteer` with ``cache_dir``); the file records a digest
of everything it was built from (:func:`source_key`) and is ignored when that differs.
"""

from __future__ import annotations

import bisect
import gettext
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import threading
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pycountry

from classifiers.errors import GazetteerError
from classifiers.types import Mention

__all__ = ["COMPILED_FILE", "Gazetteer", "fold", "load_gazetteer", "save_compiled", "source_key",
           "tokens"]

log = logging.getLogger(__name__)

DATA_FILE = "countries.toml"
#: The compiled gazetteer's file name (beside a saved model) and its format version.
COMPILED_FILE = "gazetteer.json"
COMPILED_FORMAT = 1

# ---------------------------------------------------------------- folding and words

_APOSTROPHES = "'’ʼ`ʻ‘"
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0dff\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff"
)
_W = rf"[\w{_MARKS}]"
_TOKEN = re.compile(rf"{_W}+(?:[{_APOSTROPHES}]{_W}+)*")
_STRIP = re.compile("[\u0300-\u036f\u064b-\u065f\u0670\u0640]")
_FOLD_MAP = str.maketrans(
    {"ı": "i", "’": "'", "ʼ": "'", "`": "'", "ʻ": "'", "‘": "'",
     "ي": "ی", "ى": "ی", "ك": "ک", "\u200c": ""}
)
_NOSPACE = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f]+"
)
_GAP_OK = re.compile(r"[ \t\u00a0\-‐‑–—.]{0,3}")
_APOSTROPHE = re.compile(f"[{_APOSTROPHES}]")
_SURFACE_CACHE = 100_000  # surfaces whose entry is kept


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """Fold a word for matching: case, Turkish i, accents and Arabic-script variants."""
    s = word.replace("İ", "i").casefold()
    s = unicodedata.normalize("NFD", s)
    s = _STRIP.sub("", s)
    return unicodedata.normalize("NFC", s.translate(_FOLD_MAP))


def tokens(text: str) -> Iterator[tuple[int, int, str]]:
    """The words of ``text`` as ``(start, end, surface)``."""
    for m in _TOKEN.finditer(text):
        yield m.start(), m.end(), m.group()


def _split_tail(word: str) -> tuple[str, str] | None:
    """``Çin'de`` -> (``Çin``, ``de``): a word and the suffix after its last apostrophe."""
    for i in range(len(word) - 1, 0, -1):
        if word[i] in _APOSTROPHES:
            tail = word[i + 1:]
            if 0 < len(tail) <= 12:
                return word[:i], tail
            return None
    return None


@cache
def key_of(phrase: str) -> tuple[str, ...]:
    """The folded word sequence of a phrase."""
    if phrase.isalpha():
        return (fold(phrase),)
    return tuple(fold(w) for w in _TOKEN.findall(phrase))


# ---------------------------------------------------------------- inflection rules

_TK_BACK = set("aıou")
_TK_FRONT = set("eəiöü")
_TK_VOWELS = _TK_BACK | _TK_FRONT | set("ыіөүұә")
_TK_VOICELESS = set("çfhkpsştqx")


def _tk_lower(word: str) -> str:
    return word.replace("I", "ı").replace("İ", "i").lower()


def _tk_last_vowel(word: str) -> str | None:
    for ch in reversed(_tk_lower(word)):
        if ch in _TK_VOWELS:
            return ch
    return None


def _tk_attach(word: str, suffix: str, lang: str, front: bool | None = None) -> str:
    """Attach one Turkic suffix written with archiphonemes.

    ``A`` two-way vowel, ``I`` four-way vowel, ``D`` d/t, ``(n)``/``(y)``/``(s)`` buffer
    consonants used after a vowel.
    """
    low = _tk_lower(word)
    last = _tk_last_vowel(word)
    ends_vowel = bool(low) and low[-1] in _TK_VOWELS
    is_front = (last in _TK_FRONT) if front is None else front
    rounded = last in ("o", "u", "ö", "ü")
    a = ("ə" if lang == "az" else "e") if is_front else "a"
    i = ("ü" if rounded else "i") if is_front else ("u" if rounded else "ı")
    d = "t" if (lang == "tr" and low and low[-1] in _TK_VOICELESS) else "d"
    out: list[str] = []
    j = 0
    while j < len(suffix):
        ch = suffix[j]
        if ch == "(":
            close = suffix.index(")", j)
            if ends_vowel and not out:
                out.append(suffix[j + 1:close])
            j = close + 1
            continue
        out.append({"A": a, "I": i, "D": d}.get(ch, ch))
        j += 1
    return word + "".join(out)


def _tk_chain(word: str, chain: Iterable[str], lang: str, front: bool | None = None) -> str:
    for suffix in chain:
        word = _tk_attach(word, suffix, lang, front)
        front = None
    return word


_CASES = ["(n)In", "(y)I", "(y)A", "DA", "DAn", "(y)lA", "DAkI", "DIr"]
_TK_NAME_CHAINS: list[list[str]] = [
    [], *[[c] for c in _CASES], ["DA", "kI", "lAr"], ["lI"], ["lIk"],
    *[["lI", c] for c in _CASES[:6]], ["lI", "lAr"],
    *[["lI", "lAr", c] for c in _CASES[:6]],
]
_TK_NOUN_CHAINS: list[list[str]] = [
    [], *[[c] for c in _CASES[:6]], ["lAr"], *[["lAr", c] for c in _CASES[:6]],
]
_TK_POSS_CHAINS: list[list[str]] = [["nIn"], ["nA"], ["nI"], ["ndA"], ["ndAn"], ["ylA"],
                                    ["ndAkI"]]


def turkic_forms(name: str, lang: str, *, noun: bool = False) -> set[str]:
    """Case forms of an Azerbaijani or Turkish name (suffixes on its last word)."""
    words = name.split(" ")
    head, last = " ".join(words[:-1]), words[-1]
    chains = _TK_NOUN_CHAINS if noun else _TK_NAME_CHAINS
    forms: set[str] = set()
    fronts: tuple[bool | None, ...] = (None,)
    if _tk_last_vowel(last) is None or last.isupper():
        fronts = (True, False)  # acronyms: ABŞ-ın / ABŞ-a, both harmonies
    for front in fronts:
        for chain in chains:
            forms.add(_tk_chain(last, chain, lang, front))
    if len(words) > 1 and _tk_lower(last)[-1:] in _TK_VOWELS:
        for chain in _TK_POSS_CHAINS:
            forms.add(_tk_chain(last, chain, lang))
    return {f"{head} {f}".strip() for f in forms}


_GENERIC_TURKIC = {
    # Kazakh, Kyrgyz, Uzbek, Turkmen: the common case endings, every harmony variant
    "kk": ["", "ның", "нің", "дың", "дің", "тың", "тің", "ға", "ге", "қа", "ке", "на", "не",
           "да", "де", "та", "те", "нда", "нде", "дан", "ден", "тан", "тен", "нан", "нен",
           "мен", "бен", "пен", "дағы", "дегі"],
    "ky": ["", "нын", "нин", "дын", "дин", "тын", "тин", "га", "ге", "ка", "ке", "да", "де",
           "та", "те", "дан", "ден", "тан", "тен", "менен"],
    "uz": ["", "ning", "ga", "ka", "qa", "da", "dan", "ni", "lik", "dagi", "нинг", "га", "да",
           "дан", "ни", "лик"],
    "tk": ["", "yň", "iň", "nyň", "niň", "a", "e", "ya", "ye", "da", "de", "dan", "den", "ly",
           "li"],
}


def _ru_noun_table(word: str) -> list[list[str]] | None:
    """Case forms (nom, gen, dat, acc, ins, prep) of a Russian noun, or None if it does
    not decline.  Each slot may hold several spellings."""
    w = word
    low = w.lower()
    if not low or w.isupper() or (low[-1] in "оуиеюэё" and not low.endswith("ы")):
        return None
    if low.endswith("а") and len(low) > 1 and low[-2] in "аоуиеэюя":
        return None  # Самоа, Палау-like foreign names do not decline
    if low.endswith("ия"):
        s = w[:-2]
        return [[s + "ия"], [s + "ии"], [s + "ии"], [s + "ию"], [s + "ией", s + "иею"], [s + "ии"]]
    if low.endswith("ея"):
        s = w[:-2]
        return [[s + "ея"], [s + "еи"], [s + "еи"], [s + "ею"], [s + "еей"], [s + "еи"]]
    if low.endswith("я"):
        s = w[:-1]
        return [[s + "я"], [s + "и"], [s + "е"], [s + "ю"], [s + "ей"], [s + "е"]]
    if low.endswith("а"):
        s = w[:-1]
        soft = s[-1:].lower() in set("кгхжшчщ")
        gen = s + ("и" if soft else "ы")
        return [[s + "а"], [gen], [s + "е"], [s + "у"], [s + "ой", s + "ей", s + "ою"], [s + "е"]]
    if low.endswith("ы"):  # plural: Нидерланды, Филиппины
        s = w[:-1]
        return [[s + "ы"], [s + "ов", s], [s + "ам"], [s + "ы"], [s + "ами"], [s + "ах"]]
    if low.endswith("й"):
        s = w[:-1]
        return [[s + "й"], [s + "я"], [s + "ю"], [s + "й"], [s + "ем"], [s + "е"]]
    if low.endswith("ь"):
        s = w[:-1]
        return [[s + "ь"], [s + "я", s + "и"], [s + "ю", s + "и"], [s + "ь"],
                [s + "ем", s + "ью"], [s + "е", s + "и"]]
    if low[-1].isalpha():
        ins = w + ("ем" if low[-1] in "жшчщц" else "ом")
        return [[w], [w + "а"], [w + "у"], [w], [ins], [w + "е"]]
    return None


_RU_ADJ_END = ("ая", "яя", "ий", "ый", "ой", "ое", "ее", "ие", "ые")


def _ru_adj_all(word: str) -> list[str]:
    """Every form of a Russian adjective (all genders, numbers and cases)."""
    stem = word[:-2]
    y = "и" if stem[-1:].lower() in set("кгхжшчщ") or word.endswith(("ий", "ие")) else "ы"
    ends = [y + "й", "ой", "ого", "ому", y + "м", "ом", "ая", "ой", "ую", "ою", "ое", y + "е",
            y + "х", y + "ми", "ее", "ей", "юю", "яя", "его", "ему", "ем"]
    return [stem + e for e in ends]


def _ru_adj_table(word: str, gender: str) -> list[list[str]]:
    stem = word[:-2]
    y = "и" if stem[-1:].lower() in set("кгхжшчщн") and word[-2:] in ("ий", "ие") else "ы"
    if word[-2:] in ("ий",) or stem[-1:].lower() in set("кгхжшчщ"):
        y = "и"
    tables = {
        "f": [["ая"], ["ой"], ["ой"], ["ую"], ["ой", "ою"], ["ой"]],
        "m": [[y + "й", "ой"], ["ого"], ["ому"], [y + "й"], [y + "м"], ["ом"]],
        "n": [["ое"], ["ого"], ["ому"], ["ое"], [y + "м"], ["ом"]],
        "p": [[y + "е"], [y + "х"], [y + "м"], [y + "е"], [y + "ми"], [y + "х"]],
    }
    return [[stem + e for e in slot] for slot in tables[gender]]


def russian_forms(name: str) -> set[str]:
    """Case forms of a Russian name; multi-word names decline up to their head noun."""
    words = name.split(" ")
    head_i = next((i for i, w in enumerate(words) if not w.lower().endswith(_RU_ADJ_END)),
                  len(words) - 1)
    head = words[head_i]
    parts = head.split("-")
    head_table = _ru_noun_table(parts[-1])
    forms: set[str] = {name}
    if head_table is None:
        head_table = [[parts[-1]]] * 6
    prefix = "-".join(parts[:-1]) + "-" if len(parts) > 1 else ""
    low = parts[-1].lower()
    gender = "p" if low.endswith("ы") else "f" if low.endswith(("а", "я", "ь")) else "m"
    for case in range(6):
        options: list[list[str]] = []
        for i, w in enumerate(words):
            if i < head_i and w.lower().endswith(_RU_ADJ_END):
                options.append(_ru_adj_table(w, gender)[case])
            elif i == head_i:
                options.append([prefix + h for h in head_table[case]])
            else:
                options.append([w])
        combos = [""]
        for opt in options:
            combos = [f"{c} {o}".strip() for c in combos for o in opt]
        forms.update(combos)
    return forms


def russian_adj_forms(word: str) -> set[str]:
    if word.lower().endswith(_RU_ADJ_END):
        return set(_ru_adj_all(word))
    if word.lower().endswith("о"):  # combining form: российско-, китайско-
        return {word}
    return russian_forms(word)


def ukrainian_forms(name: str) -> set[str]:
    words = name.split(" ")
    last = words[-1]
    head = " ".join(words[:-1])
    low = last.lower()
    ends: list[str]
    stem = last
    if low.endswith("ія"):
        stem, ends = last[:-2], ["ія", "ії", "ію", "ією"]
    elif low.endswith("а"):
        stem, ends = last[:-1], ["а", "и", "і", "у", "ою", "ї"]
    elif low.endswith("й"):
        stem, ends = last[:-1], ["й", "ю", "ї", "єм", "я"]
    elif low.endswith("ь"):
        stem, ends = last[:-1], ["ь", "і", "ю", "я", "ем", "ью"]
    elif low[-1:].isalpha() and low[-1] not in "оеиіу":
        ends = ["", "у", "а", "і", "ом", "ові"]
    else:
        ends = [""]
    out = {f"{head} {stem}{e}".strip() for e in ends}
    if len(words) > 1 and words[0].lower().endswith("а"):  # Південна Корея
        adj = words[0][:-1]
        for e in ("ої", "ій", "у", "ою"):
            out.update(f"{adj}{e} {f.split(' ', 1)[1]}" for f in list(out) if " " in f)
    return out


def ukrainian_adj_forms(word: str) -> set[str]:
    if not word.endswith("ий"):
        return {word}
    stem = word[:-2]
    return {stem + e for e in ("ий", "ого", "ому", "им", "ому", "ім", "а", "ої", "ій", "у",
                               "ою", "е", "і", "их", "ими")}


def serbian_forms(name: str) -> set[str]:
    words = name.split(" ")
    last = words[-1]
    head = " ".join(words[:-1])
    low = last.lower()
    if low.endswith(("ија", "ija")):
        stem, ends = last[:-1], ["а", "е", "и", "у", "ом"]
        if low.endswith("ija"):
            ends = ["a", "e", "i", "u", "om"]
    elif low.endswith(("а", "a")):
        stem = last[:-1]
        ends = ["а", "е", "и", "у", "ом", "ој"] if low.endswith("а") else \
            ["a", "e", "i", "u", "om", "oj"]
    elif low[-1:].isalpha() and low[-1] not in "оеиуoeiu":
        stem = last
        cyr = bool(re.search("[а-я]", low))
        ends = ["", "а", "у", "ом", "е"] if cyr else ["", "a", "u", "om", "e"]
    else:
        stem, ends = last, [""]
    return {f"{head} {stem}{e}".strip() for e in ends}


def serbian_adj_forms(word: str) -> set[str]:
    if not word.endswith(("ски", "ški", "ski", "чки", "čki", "шки")):
        return {word}
    stem = word[:-1]
    cyr = bool(re.search("[а-я]", word))
    ends = (["и", "а", "о", "е", "у", "ог", "ога", "ом", "ој", "им", "их", "има"] if cyr
            else ["i", "a", "o", "e", "u", "og", "oga", "om", "oj", "im", "ih", "ima"])
    return {stem + e for e in ends}


def polish_forms(name: str) -> set[str]:
    words = name.split(" ")
    last = words[-1]
    head = " ".join(words[:-1])
    low = last.lower()
    if low.endswith("ja"):
        stem, ends = last[:-1], ["a", "i", "ę", "ą"]
    elif low.endswith("a"):
        stem, ends = last[:-1], ["a", "y", "i", "ie", "ę", "ą"]
    elif low.endswith("y"):  # Chiny, Niemcy, Włochy
        stem, ends = last[:-1], ["y", "", "ach", "ami", "om", "ech", "iec"]
    elif low[-1:].isalpha() and low[-1] not in "eiouyą":
        stem, ends = last, ["", "u", "ie", "em", "owi", "a"]
    else:
        stem, ends = last, [""]
    return {f"{head} {stem}{e}".strip() for e in ends}


def polish_adj_forms(word: str) -> set[str]:
    if not word.endswith(("ski", "cki")):
        return {word}
    stem = word[:-1]
    return {stem + e for e in ("i", "a", "ie", "iego", "iemu", "im", "ą", "iej", "ich", "imi")}


_KA_CONS = ["ი", "ის", "ს", "მა", "ით", "ად", "ში", "ზე", "თან", "იდან", "ისთვის", "ისა",
            "სა", "ისგან", "ელი", "ელმა", "ელს", "ელის", "ელები", "ისაც", "საც", "შიც", "თანაც",
            "ისთვისაც", "ითაც", "მაც"]
_KA_VOW = ["", "ს", "მ", "თი", "დ", "ში", "ზე", "თან", "დან", "სთვის", "სა", "სგან", "ც", "საც",
           "სთვისაც", "შიც", "ში", "ს"]


def georgian_forms(name: str) -> set[str]:
    words = name.split(" ")
    last = words[-1]
    head = " ".join(words[:-1])
    if last.endswith("ი"):
        stem, ends = last[:-1], _KA_CONS
    else:
        stem, ends = last, _KA_VOW
    return {f"{head} {stem}{e}".strip() for e in ends}


def german_forms(name: str, *, adj: bool = False) -> set[str]:
    if adj:
        base = name[:-1] if name.endswith("e") else name
        return {base + e for e in ("", "e", "en", "er", "es", "em")}
    out = {name}
    if not name.endswith(("s", "z", "x", "ß")):
        out.add(name + "s")
    return out


def arabic_forms(name: str, *, adj: bool = False) -> set[str]:
    base = {name}
    if not adj:
        if name.startswith("ال"):
            bare = name[2:]
            base.add(name + "ي")
            base.add(name + "ية")
            base.add("لل" + bare)
        elif name.endswith("يا") and " " not in name:
            base.update({"ال" + name[:-1], "ال" + name[:-1] + "ة", name[:-1], name[:-1] + "ة"})
        elif " " not in name:
            base.update({"ال" + name + "ي", "ال" + name + "ية"})
    out = set(base)
    for b in base:
        for p in ("و", "ب", "ل", "ف", "وب", "ول", "ك"):
            if p == "ل" and b.startswith("ال"):
                continue
            out.add(p + b)
    return out


def persian_forms(name: str, *, adj: bool = False) -> set[str]:
    out = {name}
    if not adj and " " not in name:
        out.update({name + "ی", name + "یان", name + "ها"})
    return out


def hebrew_forms(name: str) -> set[str]:
    return {name} | {p + name for p in ("ב", "ל", "מ", "ו", "ה")}


def armenian_forms(name: str) -> set[str]:
    return {name} | {name + e for e in ("ի", "ում", "ից", "ով", "ին", "ը", "ն")}


def inflect(name: str, lang: str, role: str) -> set[str]:
    """Forms of one name in one language; ``role`` is ``name``, ``adj`` or ``city``."""
    adj = role == "adj"
    if lang in ("az", "tr"):
        return turkic_forms(name, lang, noun=adj)
    if name.isupper() and len(name) <= 5:
        return {name}  # acronyms: САД, США, ОАЭ
    if lang in ("az", "tr"):
        return turkic_forms(name, lang, noun=adj)
    if lang == "ru" or lang == "be":
        return russian_adj_forms(name) if adj else russian_forms(name)
    if lang == "uk":
        return ukrainian_adj_forms(name) if adj else ukrainian_forms(name)
    if lang in ("sr", "sr_latn", "bs", "hr"):
        return serbian_adj_forms(name) if adj else serbian_forms(name)
    if lang == "pl":
        return polish_adj_forms(name) if adj else polish_forms(name)
    if lang == "ka":
        return georgian_forms(name)
    if lang == "de":
        return german_forms(name, adj=adj)
    if lang == "ar":
        return arabic_forms(name, adj=adj)
    if lang in ("fa", "ps", "ur", "ckb"):
        return persian_forms(name, adj=adj)
    if lang == "he":
        return hebrew_forms(name)
    if lang == "hy":
        return armenian_forms(name)
    if lang in _GENERIC_TURKIC:
        words = name.split(" ")
        return {" ".join([*words[:-1], words[-1] + e]) for e in _GENERIC_TURKIC[lang]}
    return {name}


# ---------------------------------------------------------------- the gazetteer

ANY, CAP, EXACT = 0, 1, 2
_KINDS_STRONG_ORDER = {"block": 0, "name": 1, "alias": 2, "demonym": 3, "capital": 4, "city": 5}


@dataclass(frozen=True, slots=True)
class Entry:
    """What a matched word sequence stands for."""

    code: str  # ISO alpha-2; "" for a blocking phrase
    kind: str  # name | demonym | city | capital | alias | block
    case: int  # ANY | CAP | EXACT
    weak: bool = False
    person: bool = False
    pattern: str = ""  # the surface for EXACT entries


_FUNCTION_WORDS = frozenset(
    fold(w) for w in ("the", "in", "of", "and", "from", "to", "with", "for", "by", "at", "on",
                      "a", "an", "as", "both", "between", "said", "says", "while", "that")
)


class Gazetteer:
    """Country names in many languages, and a fast finder of them in text.

    Word sequences are kept folded, one word in ``_single`` and several joined by single
    spaces in ``_multi`` (insertion order is priority order: the longest match first,
    then the earlier entry), each pointing into a small table of distinct entries.
    """

    def __init__(self, entries: Mapping[tuple[str, ...], Entry],
                 names: Mapping[str, tuple[str, ...]],
                 nospace: Mapping[str, Entry]) -> None:
        table: dict[Entry, int] = {}
        single: dict[str, int] = {}
        multi: list[tuple[tuple[str, ...], int]] = []
        for key, entry in entries.items():
            index = table.setdefault(entry, len(table))
            if len(key) == 1:
                single[key[0]] = index
            else:
                multi.append((key, index))
        # the longest first, then in the order given (a stable sort keeps it)
        multi.sort(key=lambda kv: -len(kv[0]))
        lengths: dict[str, list[int]] = {}
        for key, _ in multi:
            seen = lengths.setdefault(key[0], [])
            if not seen or seen[-1] != len(key):
                seen.append(len(key))
        ns = {k: table.setdefault(e, len(table)) for k, e in nospace.items()}
        self._setup(list(table), single, {" ".join(k): i for k, i in multi},
                    {k: tuple(v) for k, v in lengths.items()}, ns,
                    {code: tuple(v) for code, v in names.items()})

    def _setup(self, table: list[Entry], single: dict[str, int], multi: dict[str, int],
               lengths: Mapping[str, tuple[int, ...]], nospace: dict[str, int],
               names: Mapping[str, tuple[str, ...]]) -> None:
        self._table = table
        self._single = single
        self._multi = multi
        self._lengths = lengths
        self._nospace = nospace
        self._names = dict(names)
        by_first: dict[str, set[int]] = {}
        for k in nospace:
            by_first.setdefault(k[0], set()).add(len(k))
        self._nospace_lengths = {c: tuple(sorted(v, reverse=True)) for c, v in by_first.items()}
        self._order: dict[str, int] | None = None
        self._surfaces: dict[str, Entry | None] = {}  # entry() of surfaces seen, kept
        self.size = len(single) + len(multi) + len(nospace)

    # -- a compiled form, to skip the build (JSON: it cannot run code when read)
    def to_json(self, key: str) -> str:
        """The gazetteer as JSON, recording ``key`` (see :func:`source_key`)."""
        data = {
            "format": COMPILED_FORMAT,
            "key": key,
            "entries": [[e.code, e.kind, e.case, e.weak, e.person, e.pattern]
                        for e in self._table],
            "single": self._single,
            "multi": self._multi,
            "lengths": self._lengths,
            "nospace": self._nospace,
            "names": self._names,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, key: str) -> Gazetteer | None:
        """A gazetteer from :meth:`to_json`'s output; None unless it is whole and its key
        is ``key`` (the data files or the code changed since it was written)."""
        try:
            data = json.loads(text)
            if data["format"] != COMPILED_FORMAT or data["key"] != key:
                return None
            table = [_entry(str(code), str(kind), int(case), bool(weak), bool(person),
                            str(pattern))
                     for code, kind, case, weak, person, pattern in data["entries"]]
            maps = [data[name] for name in ("single", "multi", "nospace")]
            for mapping in maps:
                if not isinstance(mapping, dict) or not all(
                        type(i) is int and 0 <= i < len(table) for i in mapping.values()):
                    return None
            lengths = {str(k): tuple(int(n) for n in v) for k, v in data["lengths"].items()}
            names = {str(k): tuple(str(n) for n in v) for k, v in data["names"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        gaz = cls.__new__(cls)
        gaz._setup(table, maps[0], maps[1], lengths, maps[2], names)
        return gaz

    # -- public API
    def names(self, code: str) -> tuple[str, ...]:
        """The base names (not inflected forms) known for a country, English first."""
        return self._names.get(code.upper(), ())

    def entry(self, surface: str) -> Entry | None:
        """What a matched surface stands for (None if it names nothing)."""
        try:
            return self._surfaces[surface]
        except KeyError:
            pass
        entry = self._entry(surface)
        if len(self._surfaces) >= _SURFACE_CACHE:
            self._surfaces.clear()
        self._surfaces[surface] = entry
        return entry

    def _entry(self, surface: str) -> Entry | None:
        words = _TOKEN.findall(surface)
        if not words:
            return None
        for last in (words[-1], (_split_tail(words[-1]) or (words[-1], ""))[0]):
            key = tuple(fold(w) for w in [*words[:-1], last])
            index = (self._single if len(key) == 1 else self._multi).get(" ".join(key))
            if index is not None:
                return self._table[index]
        return None

    def is_weak(self, surface: str, code: str) -> bool:
        """Whether a mention's surface names its country only weakly ("Sofia")."""
        entry = self.entry(surface)
        return entry is not None and entry.code == code and entry.weak

    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self._names))

    def find(self, text: str) -> list[Mention]:
        """Every country mention in ``text``: non-overlapping, the longest match wins."""
        matches = list(_TOKEN.finditer(text))
        words = [m.group() for m in matches]
        return self.find_words(text, words, [m.span() for m in matches],
                               [fold(w) for w in words])

    def find_words(self, text: str, words: list[str], spans: list[tuple[int, int]],
                   folded: list[str]) -> list[Mention]:
        """:meth:`find` on a text already cut into words: ``words`` as this module's
        :func:`tokens` gives them, their ``spans`` and their :func:`fold`."""
        found: list[Mention] = []
        n = len(words)
        i = 0
        single, lengths, table = self._single, self._lengths, self._table
        gaps: list[bool | None] = [None] * n
        # the words with an apostrophe inside (only they can carry a suffix: Çin'de)
        apostrophes: set[int] = set()
        if n and _APOSTROPHE.search(text):
            starts = [s for s, _ in spans]
            for m in _APOSTROPHE.finditer(text):
                k = bisect.bisect_right(starts, m.start()) - 1
                if k >= 0 and m.start() < spans[k][1]:
                    apostrophes.add(k)
        while i < n:
            first = folded[i]
            sizes = lengths.get(first)
            best = None
            if sizes is not None:
                best = self._match_multi(text, words, spans, folded, i, sizes, gaps,
                                         apostrophes)
            if best is None:
                index = single.get(first)
                if index is None and i in apostrophes:
                    split = _split_tail(words[i])
                    if split is not None:
                        index = single.get(fold(split[0]))
                if index is not None and self._case_ok(table[index], text, spans, i, i):
                    best = (i, table[index])
            if best is None:
                i += 1
                continue
            end_i, entry = best
            start, end = spans[i][0], spans[end_i][1]
            if entry.code and not (entry.person and self._person_context(text, spans, words, i)):
                found.append(Mention(entry.code, text[start:end], start, end, entry.kind))
            i = end_i + 1
        if self._nospace and _NOSPACE.search(text):
            found = self._find_nospace(text, found)
        return found

    # -- helpers
    def _match_multi(self, text: str, words: list[str], spans: list[tuple[int, int]],
                     folded: list[str], i: int, sizes: tuple[int, ...],
                     gaps: list[bool | None], apostrophes: set[int],
                     ) -> tuple[int, Entry] | None:
        """The longest word sequence from word ``i`` that names something; its last word
        may carry an apostrophe suffix (``Saudi Arabia's``)."""
        n = len(words)
        multi = self._multi
        reach = i  # gaps[i + 1 .. reach] are known to be fine
        for size in sizes:
            last = i + size - 1
            if last >= n:
                continue
            while reach < last:
                k = reach + 1
                ok = gaps[k]
                if ok is None:
                    ok = gaps[k] = _GAP_OK.fullmatch(text, spans[k - 1][1], spans[k][0]) \
                        is not None
                if not ok:
                    break
                reach = k
            if reach < last:
                continue
            head = " ".join(folded[i:last])
            key = f"{head} {folded[last]}"
            options: list[tuple[str, int]] = []
            index = multi.get(key)
            if index is not None:
                options.append((key, index))
            if last in apostrophes:
                split = _split_tail(words[last])
                if split is not None:
                    stem = fold(split[0])
                    index = multi.get(f"{head} {stem}") if stem != folded[last] else None
                    if index is not None:
                        options.append((f"{head} {stem}", index))
            if len(options) == 2:  # both: the one given first wins, as in a full scan
                order = self._priority()
                options.sort(key=lambda option: order[option[0]])
            for _, index in options:
                entry = self._table[index]
                if self._case_ok(entry, text, spans, i, last):
                    return last, entry
        return None

    def _priority(self) -> dict[str, int]:
        if self._order is None:
            self._order = {k: i for i, k in enumerate(self._multi)}
        return self._order

    @staticmethod
    def _case_ok(entry: Entry, text: str, spans: list[tuple[int, int]], i: int, j: int) -> bool:
        if entry.case == ANY:
            return True
        start, end = spans[i][0], spans[j][1]
        if entry.case == CAP:
            ch = text[start]
            return not ch.islower() or "\u10a0" <= ch <= "\u10ff"
        surface = text[start:end]
        if surface == entry.pattern:
            return True
        # an apostrophe suffix may follow an acronym: ABŞ-ın is two words, ABD'nin one
        split = _split_tail(surface)
        return split is not None and split[0] == entry.pattern

    @staticmethod
    def _person_context(text: str, spans: list[tuple[int, int]], words: list[str],
                        i: int) -> bool:
        """A given name just before an ambiguous name: "Michael Jordan"."""
        if i == 0:
            return False
        prev = words[i - 1]
        if not prev[:1].isupper() or fold(prev) in _FUNCTION_WORDS:
            return False
        gap = text[spans[i - 1][1]:spans[i][0]]
        if gap.strip(" \u00a0"):
            return False
        before = text[:spans[i - 1][0]].rstrip()
        return bool(before) and before[-1] not in ".!?:\n\"«“"

    def _find_nospace(self, text: str, found: list[Mention]) -> list[Mention]:
        taken = [(m.start, m.end) for m in found]
        extra: list[Mention] = []
        for run in _NOSPACE.finditer(text):
            s, e = run.start(), run.end()
            k = s
            while k < e:
                hit = None
                for length in self._nospace_lengths.get(text[k], ()):
                    index = self._nospace.get(text[k:k + length]) if k + length <= e else None
                    if index is not None:
                        hit = (length, self._table[index])
                        break
                if hit is None:
                    k += 1
                    continue
                length, entry = hit
                if entry.code and not any(a < k + length and k < b for a, b in taken):
                    extra.append(Mention(entry.code, text[k:k + length], k, k + length,
                                         entry.kind))
                k += length
        return sorted([*found, *extra], key=lambda m: m.start)


# ---------------------------------------------------------------- building

_LOCALE_LANG = {"sr@latin": "sr_latn", "tt@iqtelif": "tt", "nb_NO": "nb", "pt_BR": "pt",
                "ro_MD": "ro", "bn_BD": "bn", "bn_IN": "bn", "pa_PK": "pa", "zh_CN": "zh",
                "zh_HK": "zh", "zh_TW": "zh"}
_HAND_ROLES = {"": "name", "adj": "demonym", "city": "city", "cap": "capital"}


def _read_toml(name: str) -> dict[str, Any]:
    try:
        raw = resources.files("classifiers").joinpath("data", name).read_bytes()
        return tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GazetteerError(f"cannot read classifiers/data/{name}: {exc}") from exc


@cache
def _entry(code: str, kind: str, case: int, weak: bool = False, person: bool = False,
           pattern: str = "") -> Entry:
    return Entry(code, kind, case, weak, person, pattern)


class _Builder:
    """Collects (word sequence -> entry) with priorities; conflicts at the best priority
    that name different countries are dropped."""

    def __init__(self, skip: set[str]) -> None:
        self.items: dict[tuple[str, ...], dict[int, dict[str, Entry]]] = {}
        self.nospace: dict[str, dict[int, dict[str, Entry]]] = {}
        self.skip = skip

    def add(self, phrase: str, entry: Entry, priority: int) -> None:
        phrase = phrase.strip()
        if not phrase:
            return
        if max(phrase) >= "\u0e00" and _NOSPACE.fullmatch(phrase.replace(" ", "")):
            if len(phrase) >= 2:
                slot = self.nospace.setdefault(phrase.replace(" ", ""), {})
                slot.setdefault(priority, {}).setdefault(entry.code, entry)
            return
        key = key_of(phrase)
        if not key:
            return
        if priority > 0:
            joined = " ".join(key)
            if joined in self.skip or len(joined) < 3:
                return
            if len(joined) < 4 and re.fullmatch(r"[a-zа-я ]+", joined):
                return
        if entry.case == EXACT:
            entry = _entry(entry.code, entry.kind, EXACT, entry.weak, entry.person, phrase)
        slot2 = self.items.setdefault(key, {})
        codes = slot2.setdefault(priority, {})
        old = codes.get(entry.code)
        if old is None:
            codes[entry.code] = entry
        elif old != entry:
            stronger = entry if _KINDS_STRONG_ORDER[entry.kind] < _KINDS_STRONG_ORDER[old.kind] \
                else old
            case = min(old.case, entry.case)
            codes[entry.code] = _entry(entry.code, stronger.kind, case, old.weak and entry.weak,
                                       old.person or entry.person,
                                       stronger.pattern if case == EXACT else "")

    @staticmethod
    def _resolve(slots: dict[int, dict[str, Entry]]) -> Entry | None:
        best = slots[min(slots)]
        if "" in best:
            return best[""]
        if len(best) == 1:
            return next(iter(best.values()))
        return None

    def entries(self) -> tuple[dict[tuple[str, ...], Entry], dict[str, Entry]]:
        out = {k: e for k, v in self.items.items() if (e := self._resolve(v)) is not None}
        ns = {k: e for k, v in self.nospace.items() if (e := self._resolve(v)) is not None}
        return out, ns


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise GazetteerError(f"{where}: expected a string or a list of strings")


def _variants(name: str) -> list[str]:
    """``Iran, Islamic Republic of`` -> the name and ``Iran``; ``X (Y)`` -> X, Y."""
    out = [name]
    m = re.fullmatch(r"(.+?)\s*\((.+)\)", name)
    if m:
        out += [m.group(1), m.group(2)]
    if "," in name:
        out.append(name.split(",")[0].strip())
    return out


def build_gazetteer() -> Gazetteer:
    """Build a gazetteer from pycountry and the data files (slow: use load_gazetteer)."""
    data = _read_toml(DATA_FILE)
    skip = {fold(s) for s in _strings(data.get("skip", {}).get("keys", []), "skip.keys")}
    b = _Builder(skip)
    known = {c.alpha_2 for c in pycountry.countries}
    names: dict[str, list[str]] = {code: [] for code in known}

    # pycountry: English (priority 1) and every locale (priority 2)
    english: dict[str, list[str]] = {}
    for c in pycountry.countries:
        en = [c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)]
        english[c.alpha_2] = [s for s in en if s]
        for s in english[c.alpha_2]:
            for v in _variants(s):
                b.add(v, _entry(c.alpha_2, "name", CAP), 1)
                names[c.alpha_2].append(v)
    for locale, lang in _locales():
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[locale])
        except OSError:
            continue
        for code, msgids in english.items():
            for msgid in msgids:
                local = tr.gettext(msgid)
                if local == msgid:
                    continue
                for v in _variants(local):
                    for form in inflect(v, lang, "name"):
                        b.add(form, _entry(code, "name", CAP), 2)

    # hand-kept data (priority 0)
    flags = data.get("capital_flags", {})
    weak_caps = set(_strings(flags.get("weak", []), "capital_flags.weak"))
    drop_caps = set(_strings(flags.get("drop", []), "capital_flags.drop"))
    for code, capital in data.get("capitals", {}).items():
        if code not in known:
            raise GazetteerError(f"capitals: {code!r} is not an ISO 3166-1 alpha-2 code")
        for cap in _strings(capital, f"capitals.{code}"):
            if cap not in drop_caps:
                b.add(cap, _entry(code, "capital", CAP, cap in weak_caps), 0)
    for lang, phrases in data.get("block", {}).items():
        for phrase in _strings(phrases, f"block.{lang}"):
            for form in inflect(phrase, lang, "name") | {phrase}:
                b.add(form, _entry("", "block", ANY), 0)
    for code, table in data.get("country", {}).items():
        if code not in known:
            raise GazetteerError(f"country.{code}: not an ISO 3166-1 alpha-2 code")
        _add_country(b, code, table, names[code])

    entries, nospace = b.entries()
    final_names = {c: tuple(dict.fromkeys(v)) for c, v in names.items()}
    return Gazetteer(entries, final_names, nospace)


def _locales() -> list[tuple[str, str]]:
    out = []
    for locale in sorted(p.name for p in Path(pycountry.LOCALES_DIR).iterdir()):
        lang = _LOCALE_LANG.get(locale, locale.split("_")[0].split("@")[0])
        out.append((locale, lang))
    return out


def _add_country(b: _Builder, code: str, table: Mapping[str, Any], names: list[str]) -> None:
    where = f"country.{code}"
    weak = set(_strings(table.get("weak", []), f"{where}.weak"))
    person = set(_strings(table.get("person", []), f"{where}.person"))
    exact = set(_strings(table.get("exact", []), f"{where}.exact"))
    for field, value in table.items():
        if field in ("weak", "person", "exact"):
            continue
        items = _strings(value, f"{where}.{field}")
        if field == "alias":
            for s in items:
                case = EXACT if s in exact else CAP
                b.add(s, _entry(code, "alias", case, s in weak), 0)
            continue
        lang, _, role = field.partition("_")
        if lang == "sr" and role.startswith("latn"):
            lang, role = "sr_latn", role[5:]
        if role == "literal":
            for s in items:
                b.add(s, _entry(code, "demonym" if s[:1].islower() else "name",
                                ANY if s[:1].islower() else CAP, s in weak), 0)
            continue
        if role not in _HAND_ROLES:
            raise GazetteerError(f"{where}.{field}: unknown field")
        kind = _HAND_ROLES[role]
        for s in items:
            if kind == "name":
                names.append(s)
            if s.endswith("-"):  # Azerbaijani-Latvian: the first half of a compound
                b.add(s[:-1], _entry(code, kind, CAP if lang == "en" else ANY), 0)
                continue
            if s in exact:
                case = EXACT
            elif kind == "demonym" and lang not in ("en", "tr"):
                case = ANY
            else:
                case = CAP
            role_name = "adj" if kind == "demonym" else "city" if kind in ("city", "capital") \
                else "name"
            forms = inflect(s, lang, role_name) | {s}
            for form in forms:
                b.add(form, _entry(code, kind, case, s in weak, s in person), 0)


_LOCK = threading.Lock()
_CACHE: list[Gazetteer] = []


def load_gazetteer(cache_dir: Path | str | None = None) -> Gazetteer:
    """The gazetteer, made on first use and kept for the process.

    Building it takes a second or two; with ``cache_dir`` (a saved model's directory) the
    compiled form there is read instead when it was made from the same data files and
    code (:func:`source_key`), and written there after a build (best effort: a read-only
    directory only costs the build).
    """
    if _CACHE:
        return _CACHE[0]
    with _LOCK:
        if not _CACHE:
            _CACHE.append(_load_or_build(None if cache_dir is None else Path(cache_dir)))
    return _CACHE[0]


def save_compiled(directory: Path | str) -> Path:
    """Write the process's gazetteer, compiled, into ``directory``; return the file."""
    path = Path(directory) / COMPILED_FILE
    _write_atomic(path, load_gazetteer().to_json(source_key()))
    return path


@cache
def source_key() -> str:
    """A digest of everything the gazetteer is built from: this module's code, the data
    file, pycountry's translations of country names and the Unicode version."""
    h = hashlib.sha256(f"{COMPILED_FORMAT}|{unicodedata.unidata_version}|"
                       f"{sys.version_info[:2]}".encode())
    try:
        h.update(Path(__file__).read_bytes())
    except OSError:  # pragma: no cover - no source beside the bytecode
        h.update(b"no source")
    h.update(resources.files("classifiers").joinpath("data", DATA_FILE).read_bytes())
    for locale, _ in _locales():
        mo = Path(pycountry.LOCALES_DIR) / locale / "LC_MESSAGES" / "iso3166-1.mo"
        h.update(locale.encode())
        if mo.is_file():
            h.update(hashlib.sha256(mo.read_bytes()).digest())
    return h.hexdigest()


def _load_or_build(cache_dir: Path | None) -> Gazetteer:
    if cache_dir is None:
        return build_gazetteer()
    path = cache_dir / COMPILED_FILE
    key = source_key()
    try:
        gaz = Gazetteer.from_json(path.read_bytes(), key)
    except OSError:
        gaz = None
    if gaz is not None:
        return gaz
    gaz = build_gazetteer()
    try:
        _write_atomic(path, gaz.to_json(key))
    except OSError as exc:
        log.info("could not write the compiled gazetteer to %s: %s", path, exc)
    return gaz


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
