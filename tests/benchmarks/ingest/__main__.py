"""``python -m tests.benchmarks.ingest``: see the package's docstring."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import tests.benchmarks.ingest as package
from tests.benchmarks.ingest.bare import Bare, bare_worker, measure_bare
from tests.benchmarks.ingest.measure import QUIET_CORES, say
from tests.benchmarks.ingest.pages import BENCH, load_pages
from tests.benchmarks.ingest.scenarios import (
    E2E,
    Results,
    bare_report,
    e2e_measure,
    e2e_report,
    f1,
    repoll,
)
from tests.benchmarks.ingest.site import EXTRA_CONFIG, Site, prepare_classifier, timed_pass
from tests.cli_helpers import ROOT
from tests.loopback import LoopbackServer


def machine() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()), "python": platform.python_version(),
        "platform": platform.platform(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
    }


def _commit() -> str:
    """The checkout's commit, with "+ local changes" when the tree differs from it."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "monitor", "storage"],
                               cwd=ROOT, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {sha}" + (" + local changes in monitor/ or storage/" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.ingest",
                                     description=(package.__doc__ or "").split("\n\n")[0] or None)
    parser.add_argument("--feeds", type=int, default=200, help="feeds of real pages (200)")
    parser.add_argument("--items", type=int, default=20, help="items per feed (20)")
    parser.add_argument("--unchanged", type=int, default=1000,
                        help="unchanged feeds to re-poll (1000)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10 feeds x 10 items, 100 unchanged feeds")
    parser.add_argument("--bare-passes", type=int, default=2,
                        help="passes of the bare baseline over the pages (2)")
    parser.add_argument("--pages-dir", type=Path, default=BENCH,
                        help="the article-extraction-benchmark folder (html/, ground-truth.json)")
    parser.add_argument("--label", default="",
                        help="what is measured (e.g. a commit), printed and kept in the JSON")
    parser.add_argument("--workdir", type=Path, help="keep databases, configs and logs here")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--wait-quiet", type=float, default=180.0, metavar="SECONDS",
                        help="before each timed step, wait up to this long for other "
                             "processes to leave the cores (180; 0: never wait)")
    parser.add_argument("--attempts", type=int, default=3,
                        help="run the baseline and the end-to-end run again, up to this many "
                             "times, while other processes disturb them (3); the least "
                             "disturbed attempt is reported")
    parser.add_argument("--no-classifier", action="store_true",
                        help="switch the classifier off in every config (it is on by default "
                             "and tags each stored item at the end of a pass)")
    parser.add_argument("--timed-pass", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--bare-worker", nargs=2, metavar=("DIR", "PREFIX"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.timed_pass:
        timed_pass(args.timed_pass)
        return 0
    if args.bare_worker:
        bare_worker(*args.bare_worker)
        return 0
    if args.quick:
        args.feeds, args.items, args.unchanged = 10, 10, 100
    if not args.pages_dir.is_dir():
        print(f"{args.pages_dir} is absent: the benchmark needs its pages", file=sys.stderr)
        return 2

    work = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    res = Results(quiet_wait=args.wait_quiet)
    res.figures["machine"] = machine()
    res.figures["label"] = args.label or _commit()
    res.figures["args"] = {"feeds": args.feeds, "items": args.items,
                           "unchanged": args.unchanged}
    say(f"measuring: {res.figures['label']} ({ROOT})")
    say(f"machine: {res.figures['machine']}; work dir {work}")
    if args.no_classifier:
        EXTRA_CONFIG.extend(["[classifier]", "enabled = false", ""])
    pages = load_pages(args.pages_dir)
    server = LoopbackServer()
    # Send each response without waiting: http.server writes the headers and the body
    # separately, and with Nagle's algorithm a body under one segment (64 KiB on
    # loopback) waits for the client's delayed ACK, 40 ms (a quarter of the pages).
    server.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    server.start()
    site = Site(server)
    try:
        res.figures["classifier"] = prepare_classifier(work)
        say(f"classifier: {res.figures['classifier']}")
        urls = {p.id: server.url(f"/bench/{p.id}.html") for p in pages}
        measured: E2E | None = None
        for attempt in range(1, args.attempts + 1):
            m = e2e_measure(site, pages, work, args.feeds, args.items, args.wait_quiet)
            if measured is None or m.load < measured.load:
                measured = m
            if m.load < QUIET_CORES:
                break
            if attempt < args.attempts:
                say(f"    disturbed by other processes ({m.load:.2f} cores): again, "
                    f"attempt {attempt + 1} of {args.attempts}")
        bare: Bare | None = None
        for attempt in range(1, args.attempts + 1):
            b = measure_bare(args.pages_dir, pages, urls, args.bare_passes, args.wait_quiet)
            if bare is None or b.load < bare.load:
                bare = b
            if b.load < QUIET_CORES:
                break
            if attempt < args.attempts:
                say(f"    disturbed by other processes ({b.load:.2f} cores): again, "
                    f"attempt {attempt + 1} of {args.attempts}")
        assert measured is not None and bare is not None
        bare_report(bare, res)
        e2e_report(measured, bare, res)
        f1(site, pages, args.pages_dir, work, urls, bare, res)
        repoll(site, work, args.unchanged, res, args.attempts)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 2
    finally:
        server.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    say("\n== summary " + "=" * 70)
    width = max(len(c[0]) for c in res.checks)
    vwidth = max(len(c[1]) for c in res.checks)
    for name, value, target, ok in res.checks:
        verdict = "" if ok is None else "PASS" if ok else "FAIL"
        say(f"{name:<{width}}  {value:>{vwidth}}  {target:<12} {verdict}")
    for note in res.notes:
        say(f"WARNING: {note}")
    failed = [c[0] for c in res.checks if c[3] is False]
    say(f"\n{len(failed)} target(s) missed" + (f": {', '.join(failed)}" if failed else ""))
    if args.json:
        res.figures["checks"] = [list(c) for c in res.checks]
        res.figures["warnings"] = res.notes
        args.json.write_text(json.dumps(res.figures, indent=2, default=str), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

