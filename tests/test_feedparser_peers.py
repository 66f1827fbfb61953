"""feedparser's own test feeds (../shared/peers/feedparser-tests) through ``parse_feed``.

Each file starts with an XML comment whose ``Header:`` lines are the HTTP response
headers it was served with; ``Expect:`` is a Python expression over feedparser's
result. Every file must parse or raise ``ParseError`` (rarely); a few plain
``Expect`` lines about titles and links must agree with our ``Entry`` fields.
"""

from __future__ import annotations

import ast
import codecs
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.sources.feed import parse_feed
from monitor.types import ParsedSource

pytestmark = pytest.mark.peers

BASE = "http://127.0.0.1:8097/"
_HEADER_RE = re.compile(r"^\s*Header:\s*([A-Za-z0-9-]+):[ \t]*(.*?)\s*$", re.MULTILINE)
_EXPECT_RE = re.compile(r"^\s*Expect:\s*(.*?)\s*$", re.MULTILINE)
# not bozo and entries[0]['title'] == '...'   /  feed['title'] == u"..."
_SIMPLE_EXPECT_RE = re.compile(
    r"not bozo and (?P<where>entries\[0\]|feed)\[(?P<q>['\"])(?P<key>title|link)(?P=q)\]"
    r" == (?P<value>u?(?P<q2>['\"]).*(?P=q2))"
)
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_NUL_PATTERNS = (
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"), (b"<\x00", "utf-16-le"),
)


def _comment(data: bytes) -> str:
    """The leading XML comment, decoded well enough to read its ASCII lines."""
    text = data.decode("latin-1")
    for bom, name in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(name, "replace")
            break
    else:
        for start, name in _NUL_PATTERNS:
            if data.startswith(start):
                text = data.decode(name, "replace")
                break
    match = re.search(r"<!--(.*?)-->", text[:4000], re.DOTALL)
    return match.group(1) if match else ""


def _headers(relative: str, comment: str) -> dict[str, str]:
    headers = {name.lower(): value for name, value in _HEADER_RE.findall(comment)}
    if "http" in relative:  # served by the upstream mock server, default type text/xml
        headers.setdefault("content-type", "text/xml")
    return headers


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".xml", ".json") and p.is_file())


@dataclass
class _Run:
    files: int = 0
    parsed: int = 0
    bozo: int = 0
    entries: int = 0
    parse_errors: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    results: dict[str, ParsedSource] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"feedparser peers: files={self.files} parsed={self.parsed} "
            f"bozo-with-warnings={self.bozo} ParseError={len(self.parse_errors)} "
            f"entries={self.entries}"
        )


def _run_all(root: Path) -> _Run:
    run = _Run()
    for path in _files(root):
        relative = path.relative_to(root).as_posix()
        data = path.read_bytes()
        run.files += 1
        try:
            parsed = parse_feed(data, _headers(relative, _comment(data)), base_url=BASE + relative)
        except ParseError as exc:
            run.parse_errors.append(f"{relative}: {exc}")
            continue
        except Exception as exc:  # anything else is a bug: collect, report all at once
            run.crashes.append(f"{relative}: {type(exc).__name__}: {exc}")
            continue
        run.parsed += 1
        run.results[relative] = parsed
        run.entries += len(parsed.entries)
        run.bozo += any(w.startswith("feed is not well-formed") for w in parsed.warnings)
    return run


_RUNS: dict[Path, _Run] = {}  # one run of ~2,100 files (about 2 s) shared by the tests


@pytest.fixture
def peer_run(peers: Path) -> tuple[Path, _Run]:
    root = peers / "feedparser-tests"
    if not root.is_dir():
        pytest.skip("feedparser-tests is absent from ../shared/peers")
    if root not in _RUNS:
        _RUNS[root] = _run_all(root)
    return root, _RUNS[root]


def test_every_peer_file_parses_or_raises_parse_error(
    peer_run: tuple[Path, _Run], record_property: Callable[[str, object], None]
) -> None:
    root, run = peer_run
    summary = run.summary()
    print(f"\n{summary}", file=sys.stderr)
    for name in ("files", "parsed", "bozo", "entries"):
        record_property(name, getattr(run, name))
    record_property("parse_errors", len(run.parse_errors))

    assert run.files == len(_files(root)) >= 2000, summary
    assert not run.crashes, summary + "\nraised something other than ParseError:\n" + "\n".join(
        run.crashes
    )
    assert run.parsed + len(run.parse_errors) == run.files
    listing = "\n".join(run.parse_errors)
    assert len(run.parse_errors) < 0.02 * run.files, f"{summary}\n{listing}"
    # the undeclared-entity feeds (see the README) are read with a warning, never refused
    assert run.bozo >= 250, summary
    assert run.entries >= 100, summary


def test_undeclared_entity_feeds_yield_a_warning_not_an_error(
    peer_run: tuple[Path, _Run],
) -> None:
    _, run = peer_run
    entity_files = [name for name in run.results if name.startswith("entities/")]
    refused = [e for e in run.parse_errors if e.startswith("entities/")]
    assert len(entity_files) >= 250 and not refused
    quiet = [
        name for name in entity_files
        if not any(w.startswith("feed is not well-formed") for w in run.results[name].warnings)
    ]
    assert not quiet, quiet[:10]


def test_the_json_feed_example(peer_run: tuple[Path, _Run]) -> None:
    _, run = peer_run
    parsed = run.results["json/example.json"]
    assert parsed.title == "My Example Feed"  # its Expect: feed.title and len(entries) == 2
    assert [e.url for e in parsed.entries] == [
        "https://example.org/second-item", "https://example.org/initial-post",
    ]
    assert "<script>" not in parsed.entries[1].content


def test_simple_title_and_link_expectations_agree(peer_run: tuple[Path, _Run]) -> None:
    """``Expect: not bozo and entries[0]['title'|'link'] == '...'`` (and ``feed['title']``)
    in plain RSS/Atom files, checked against ``Entry.title``/``Entry.url`` and
    ``ParsedSource.title``. Values with markup are left out: our titles are plain text."""
    root, run = peer_run
    checked: list[str] = []
    wrong: list[str] = []
    for folder in ("wellformed/rss", "wellformed/atom10", "wellformed/atom", "wellformed/rdf"):
        for path in sorted((root / folder).glob("*.xml")):
            relative = path.relative_to(root).as_posix()
            expect = _EXPECT_RE.search(_comment(path.read_bytes()))
            match = _SIMPLE_EXPECT_RE.fullmatch(expect.group(1)) if expect else None
            if match is None or relative not in run.results:
                continue
            value = ast.literal_eval(match.group("value").removeprefix("u"))
            if not isinstance(value, str) or "<" in value or "&" in value:
                continue
            parsed = run.results[relative]
            if match.group("where") == "feed":
                if match.group("key") != "title":
                    continue
                got = parsed.title
            elif not parsed.entries:
                continue  # a test entry without any link: we skip it (with a warning)
            else:
                entry = parsed.entries[0]
                got = entry.title if match.group("key") == "title" else entry.url
            checked.append(relative)
            if got != value:
                wrong.append(f"{relative}: expected {value!r}, got {got!r}")
    assert len(checked) >= 20, checked
    assert not wrong, "\n".join(wrong)
