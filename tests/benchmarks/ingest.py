"""Ingest benchmark: the real daemon code path against a loopback news site.

Run ``python -m tests.benchmarks.ingest`` (``--quick`` for a smoke run; ``--help``).
``docs/benchmarks.md`` has the method, the latest figures and what they showed.

1. **End-to-end ingest rate.** ``--feeds`` RSS feeds of ``--items`` items each, served
   by ``tests.loopback.LoopbackServer`` (a ``ThreadingHTTPServer`` on 127.0.0.1, with
   TCP_NODELAY) in a thread of this process; every item has its own URL, its page one
   of the 181 real news pages of the Zyte article-extraction benchmark, cycled.
   ``python -m monitor -c CONFIG run --once --all`` runs as a subprocess on a fresh
   SQLite file with ``extraction_workers = 0`` (a process per core). Rate = items
   ``done`` or ``duplicate`` / wall time of the subprocess. The RSS of the subprocess
   and of all its descendants is sampled from ``/proc`` every 50 ms: peak of the sum
   (target < 300 MB), peak of the main process alone (and PSS, sampled every second).
2. **Bare baseline.** ``trafilatura.extract(html, url=url)`` over the same 181 pages,
   twice, single-threaded in this process, with nothing else running: pages per
   second. Ratio = end-to-end rate / bare rate (target >= 1.0). For reference, the
   same extraction in one process per core at once (what the cores can give).
3. **Re-polling unchanged feeds.** ``--unchanged`` feeds that answer 304 to their
   ETag. A first pass stores the ETags; then ``run --once --all`` as a subprocess is
   timed (wall time, interpreter start-up included; target < 10 s), and the same
   pass through ``Pipeline.prepare`` and ``Pipeline.run_once(all_sources=True)`` in a
   helper process (this script with ``--timed-pass``) that times each step.
4. **Extraction F1.** The 181 pages in ten feeds through the pipeline; the stored
   texts scored against ``ground-truth.json`` with the upstream metric (4-token shingle
   multisets, per-item P and R averaged, F1 of the two means), and bare trafilatura
   on the same pages scored the same way: they must be equal, and no two different
   pages may be stored as duplicates of each other.

The machine may be shared: before each timed step the script waits (``--wait-quiet``)
until other processes leave the cores, counts the CPU they take during the step
(``/proc/stat``), repeats a disturbed step (``--attempts``), keeps the least disturbed
and flags any figure taken while others used more than 0.15 cores.

Exit status 0 when every target is met, 1 when one is missed, 2 on an error.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.cli_helpers import ROOT, monitor_env
from tests.loopback import LoopbackServer, Request, Response
from tests.sitegen import rss_feed

BENCH = ROOT.parent / "shared" / "peers" / "article-extraction-benchmark"
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1_000_000  # memory figures are in MB (10**6 bytes), as the target

TARGET_RATIO = 1.0
#: Other processes using more than this many cores during a measurement disturb it.
QUIET_CORES = 0.15
TARGET_REPOLL_S = 10.0
#: Peak RSS of the whole process tree of the service, in MB (10**6 bytes).
TARGET_TREE_MB = 300.0


# --------------------------------------------------------------------------- material


@dataclass(frozen=True)
class Page:
    """One page of the extraction benchmark: id, UTF-8 bytes, text, ground truth."""

    id: str
    raw: bytes
    html: str
    truth: str


def load_pages(root: Path) -> list[Page]:
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        raw = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        pages.append(Page(key, raw, raw.decode("utf-8"), truth[key].get("articleBody", "")))
    return pages


# --------------------------------------------------------------------------- metric
# The upstream evaluate.py of github.com/scrapinghub/article-extraction-benchmark.

_TOKEN_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def shingle_match(true: str, pred: str) -> tuple[float, float, float]:
    """(TP, FP, FN) of the shingle multisets, normalised to sum 1."""
    t, p = _shingles(true), _shingles(pred)
    tp = float(sum((t & p).values()))
    fp = float(sum((p - t).values()))
    fn = float(sum((t - p).values()))
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s > 0 else (tp, fp, fn)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    accuracy: float


def score(pages: Sequence[Page], texts: dict[str, str]) -> Score:
    tpfpfn = [shingle_match(p.truth, texts.get(p.id, "")) for p in pages]
    precision = statistics.mean(_precision(*x) for x in tpfpfn if x[0] + x[1] > 0)
    recall = statistics.mean(_recall(*x) for x in tpfpfn if x[0] + x[2] > 0)
    accuracy = statistics.mean(
        float(_TOKEN_RE.findall(p.truth) == _TOKEN_RE.findall(texts.get(p.id, "")))
        for p in pages)
    return Score(precision, recall, 2 * precision * recall / (precision + recall), accuracy)


# --------------------------------------------------------------------------- bare baseline


@dataclass
class Bare:
    rate: float
    seconds: list[float]
    texts: dict[str, str]
    other_cpu: float  # CPU seconds of every other process on the machine meanwhile
    cpu_per_page: float  # CPU seconds of this process per extraction
    parallel_rate: float = 0.0  # pages/s of one bare process per core, all at once
    load: float = 0.0  # cores used by other processes meanwhile (the worse of the two runs)


def bare_baseline(pages: Sequence[Page], urls: dict[str, str], passes: int) -> Bare:
    """``trafilatura.extract`` over every page, ``passes`` times, single-threaded."""
    import trafilatura

    texts: dict[str, str] = {}
    seconds = []
    busy, own = busy_seconds(), time.process_time()
    for n in range(passes):
        started = time.perf_counter()
        for page in pages:
            text = trafilatura.extract(page.html, url=urls[page.id])
            if n == 0:
                texts[page.id] = text or ""
        seconds.append(time.perf_counter() - started)
    own = time.process_time() - own
    other = max(0.0, busy_seconds() - busy - own)
    return Bare(len(pages) * passes / sum(seconds), seconds, texts, other,
                own / (len(pages) * passes))


def bare_worker(root: str, prefix: str) -> None:
    """``--bare-worker``: warm up, say "ready", wait for "go", time one pass; JSON out."""
    import trafilatura

    pages = load_pages(Path(root))
    for page in pages:
        trafilatura.extract(page.html, url=f"{prefix}{page.id}.html")
    print("ready", flush=True)
    sys.stdin.readline()
    started, cpu = time.perf_counter(), time.process_time()
    for page in pages:
        trafilatura.extract(page.html, url=f"{prefix}{page.id}.html")
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "cpu": time.process_time() - cpu, "pages": len(pages)}), flush=True)


def parallel_bare(root: Path, prefix: str, processes: int) -> tuple[float, float]:
    """Bare extraction in ``processes`` processes at once: (pages/s overall, other load)."""
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.ingest", "--bare-worker", str(root), prefix],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=monitor_env(),
    ) for _ in range(processes)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a --bare-worker did not start")
        busy, started = busy_seconds(), time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.communicate(timeout=600)[0].strip().splitlines()[-1])
                   for proc in procs]
        wall = time.perf_counter() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    other = max(0.0, busy_seconds() - busy - sum(r["cpu"] for r in results)) / wall
    return sum(r["pages"] for r in results) / max(r["seconds"] for r in results), other


# --------------------------------------------------------------------------- memory


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split(None, 2)[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one process (its threads included)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
        for line in f:
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    return 0


class TreeSampler:
    """Samples the RSS and PSS of a process and all its descendants every ``interval``.

    The list of descendants is read from ``/proc`` every :attr:`RESCAN` samples, and
    PSS (``smaps_rollup``, which walks the page tables: milliseconds per process) every
    :attr:`PSS_EVERY` samples; RSS and CPU times (``statm``, ``stat``) at every sample.
    """

    RESCAN = 5
    PSS_EVERY = 20

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss_sum = 0
        self.peak_pss_sum = 0
        self.peak_rss_main = 0
        self.peak_processes = 0
        self.samples = 0
        self.scan_seconds = 0.0
        self._tree: list[int] = []
        #: CPU seconds of each process of the tree at its last sample
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            started = time.perf_counter()
            self.sample()
            self.scan_seconds += time.perf_counter() - started
            if self._stop.wait(self.interval):
                return

    def sample(self) -> None:
        if self.samples % self.RESCAN == 0:  # the tree changes rarely; /proc scans cost
            children = _children_map()
            self._tree, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                self._tree.append(pid)
                todo.extend(children.get(pid, ()))
        rss_sum = pss_sum = 0
        alive = 0
        with_pss = self.samples % self.PSS_EVERY == 0
        for pid in self._tree:
            try:
                rss = _rss(pid)
                pss = _pss(pid) if with_pss else 0
                self.cpu[pid] = _cpu(pid)
            except (OSError, ValueError, IndexError):
                continue  # ended between the scan and the read
            alive += 1
            rss_sum += rss
            pss_sum += pss
            if pid == self.pid:
                self.peak_rss_main = max(self.peak_rss_main, rss)
        self.samples += 1
        self.peak_rss_sum = max(self.peak_rss_sum, rss_sum)
        self.peak_pss_sum = max(self.peak_pss_sum, pss_sum)
        self.peak_processes = max(self.peak_processes, alive)


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def other_load(window: float) -> float:
    """Cores used by every process but this one (and its children) over ``window`` s."""
    busy, own = busy_seconds(), time.process_time()
    time.sleep(window)
    return max(0.0, busy_seconds() - busy - (time.process_time() - own)) / window


def wait_quiet(limit: float) -> float:
    """Wait up to ``limit`` s for other processes to leave the cores (a shared machine)."""
    deadline = time.monotonic() + limit
    load = other_load(1.0) if limit > 0 else 0.0
    if load >= QUIET_CORES:
        say(f"    waiting up to {limit:.0f} s for a quiet machine "
            f"(other processes use {load:.2f} cores)")
    while load >= QUIET_CORES and time.monotonic() < deadline:
        load = other_load(2.0)
    if load >= QUIET_CORES:
        say(f"    still busy ({load:.2f} cores used by other processes): measuring anyway")
    return load


# --------------------------------------------------------------------------- subprocesses


@dataclass
class Run:
    """One ``python -m ...`` subprocess: wall time, CPU of its tree, memory peaks."""

    wall: float
    cpu: float  # user + system seconds of the whole tree (waited-for descendants included)
    server_cpu: float  # CPU seconds of this process meanwhile (server and sampler threads)
    other_cpu: float  # CPU seconds of every other process on the machine meanwhile
    started_at: datetime
    stdout: str
    stderr: str
    sampler: TreeSampler | None


def run_subprocess(args: Sequence[str], *, log: Path, timeout: float,
                   sample: bool = False) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = time.process_time()
    machine_busy = busy_seconds()
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=err,
                                env=monitor_env(), cwd=ROOT)
        sampler = TreeSampler(proc.pid).start() if sample else None
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            if sampler is not None:
                sampler.stop()
        wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = time.process_time() - own
    other = max(0.0, busy_seconds() - machine_busy - cpu - own)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        raise RuntimeError(f"{' '.join(args)} exited {code}\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return Run(wall, cpu, own, other, started_at, stdout, stderr, sampler)


def monitor_run(config: Path, log: Path, *, timeout: float, sample: bool = False) -> Run:
    return run_subprocess(["-m", "monitor", "-c", str(config), "run", "--once", "--all"],
                          log=log, timeout=timeout, sample=sample)


def fresh_db(db: Path) -> Path:
    """``db`` with no file left from an earlier run (nor its WAL and shared memory)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    return db


#: Extra TOML for every config (``[classifier] enabled = false`` with --no-classifier).
EXTRA_CONFIG: list[str] = []


def write_config(path: Path, db: Path, sources: Iterable[tuple[str, str]], *,
                 fetch_articles: bool = True) -> Path:
    lines = [
        f"data_dir = {json.dumps(str(path.parent))}",
        f"database_url = {json.dumps('sqlite:///' + str(db))}",
        "include_default_sources = false",
        "",
        "[fetch]",
        'allowed_hosts = ["127.0.0.1"]',
        f"fetch_articles = {str(fetch_articles).lower()}",
        "",
        "[schedule]",
        "extraction_workers = 0",
        "",
        *EXTRA_CONFIG,
    ]
    for name, url in sources:
        lines += ["[[sources]]", f"name = {json.dumps(name)}", f"url = {json.dumps(url)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def prepare_classifier(work: Path) -> str:
    """Train the model every pass will load, once, untimed (a daemon has one already).

    Returns what the passes will do about classification, for the report.
    """
    from monitor.config import load_settings

    config = write_config(work / "train.toml", fresh_db(work / "train.db"), [])
    try:
        settings: Any = load_settings(config)
    except Exception as exc:  # e.g. [classifier] in a checkout that has none
        raise RuntimeError(f"{config}: {exc}") from exc
    classifier = getattr(settings, "classifier", None)
    if classifier is None:
        return "none in this checkout"
    if not classifier.enabled:
        return "switched off (--no-classifier)"
    run = run_subprocess(["-m", "monitor", "-c", str(config), "train"], log=work / "train",
                         timeout=1800)
    return (f"on, as shipped: each pass tags the stored items with a model trained "
            f"beforehand ({run.wall:.1f} s, not counted)")


def timed_pass(config: str) -> None:
    """``--timed-pass CONFIG``: one pass in this process, each step timed; JSON to stdout."""
    t0 = time.perf_counter()
    from monitor.config import load_settings
    from monitor.pipeline import Pipeline

    t1 = time.perf_counter()
    settings = load_settings(config)
    pipeline = Pipeline(settings)
    with pipeline:
        pipeline.prepare()
        t2 = time.perf_counter()
        report = pipeline.run_once(all_sources=True)
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    not_modified = sum(1 for r in report.sources if r.value is not None and r.value.not_modified)
    print(json.dumps({
        "import": t1 - t0, "prepare": t2 - t1, "run_once": t3 - t2, "close": t4 - t3,
        "sources": len(report.sources), "not_modified": not_modified,
        "failed": sum(1 for r in report.sources if not r.ok), "items": len(report.items),
    }))


# --------------------------------------------------------------------------- the site


class Site:
    """Routes on a LoopbackServer, with counters of what was served."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def page(self, path: str, body: bytes) -> str:
        fixed = Response(200, HTML_TYPE, body)

        def handler(_req: Request) -> Response:
            self.count("page 200")
            return fixed

        self.server.route(path, handler=handler)
        return self.server.url(path)

    def feed(self, path: str, body: bytes, *, etag: str | None = None) -> str:
        headers = dict(RSS_TYPE, **({"ETag": etag} if etag else {}))
        full = Response(200, headers, body)
        unchanged = Response(304, {"ETag": etag} if etag else {})

        def handler(req: Request) -> Response:
            if etag and req.headers.get("if-none-match") == etag:
                self.count("feed 304")
                return unchanged
            self.count("feed 200")
            return full

        self.server.route(path, handler=handler)
        return self.server.url(path)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


def _items(links: Sequence[tuple[str, str]], base: datetime) -> list[tuple[str, str, str,
                                                                          datetime]]:
    return [(link, link, title, base + timedelta(minutes=i))
            for i, (link, title) in enumerate(links)]


def serve_ingest_site(site: Site, pages: Sequence[Page], feeds: int, items: int
                      ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``feeds`` x ``items``, each item its own URL, pages cycled; (sources, url -> page id)."""
    sources, page_of = [], {}
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for f in range(feeds):
        links = []
        for i in range(items):
            page = pages[(f * items + i) % len(pages)]
            url = site.page(f"/news/{f:04d}/{i:03d}-{page.id[:16]}.html", page.raw)
            page_of[url] = page.id
            links.append((url, f"Story {f}-{i} on health cooperation"))
        body = rss_feed(f"News feed {f}", _items(links, start)).encode()
        sources.append((f"news-{f:04d}", site.feed(f"/feeds/news-{f:04d}.xml", body)))
    return sources, page_of


def serve_f1_site(site: Site, pages: Sequence[Page], per_feed: int = 20
                  ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    sources, page_of = [], {}
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for f, chunk in enumerate(_chunks(pages, per_feed)):
        links = []
        for page in chunk:
            url = site.page(f"/bench/{page.id}.html", page.raw)
            page_of[url] = page.id
            links.append((url, f"Benchmark page {page.id[:12]}"))
        body = rss_feed(f"Benchmark {f}", _items(links, start)).encode()
        sources.append((f"bench-{f:02d}", site.feed(f"/feeds/bench-{f:02d}.xml", body)))
    return sources, page_of


def serve_unchanged_site(site: Site, feeds: int, items: int = 3) -> list[tuple[str, str]]:
    """Feeds with an ETag that answer 304 to it; their articles are never fetched."""
    sources = []
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for f in range(feeds):
        links = [(site.server.url(f"/static/{f:04d}/{i}.html"), f"Archive story {f}-{i}")
                 for i in range(items)]
        body = rss_feed(f"Quiet feed {f}", _items(links, start)).encode()
        url = site.feed(f"/feeds/quiet-{f:04d}.xml", body, etag=f'"quiet-{f}-v1"')
        sources.append((f"quiet-{f:04d}", url))
    return sources


def _chunks(seq: Sequence[Page], n: int) -> list[Sequence[Page]]:
    return [seq[i:i + n] for i in range(0, len(seq), n)]


# --------------------------------------------------------------------------- database


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


@dataclass
class Stored:
    status: Counter[str]
    methods: Counter[str]
    first_fetch: datetime | None
    first_processed: datetime | None
    last_processed: datetime | None
    rows: list[tuple[int, str, str, str | None, int | None, str | None, str | None]] = field(
        default_factory=list)  # id, url, status, text, duplicate_of_id, method, last_error


def read_db(db: Path, *, texts: bool = False) -> Stored:
    with sqlite3.connect(db) as conn:
        status = Counter(dict(conn.execute("SELECT status, count(*) FROM item GROUP BY status")))
        methods = Counter({m or "none": n for m, n in conn.execute(
            "SELECT method, count(*) FROM item WHERE status = 'done' GROUP BY method")})
        first_fetch = conn.execute("SELECT min(started_at) FROM fetch_log").fetchone()[0]
        first, last = conn.execute(
            "SELECT min(processed_at), max(processed_at) FROM item").fetchone()
        rows = conn.execute(
            f"SELECT id, url, status, {'text' if texts else 'NULL'}, duplicate_of_id, method, "
            "last_error FROM item ORDER BY id").fetchall()
    return Stored(status, methods, _ts(first_fetch), _ts(first), _ts(last), rows)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Results:
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, str, str, bool | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quiet_wait: float = 0.0

    def disturbance(self, what: str, other_cpu: float, wall: float) -> None:
        cores = other_cpu / wall if wall > 0 else 0.0
        self.figures.setdefault("other_load_cores", {})[what] = cores
        if cores >= QUIET_CORES:
            self.notes.append(f"{what}: other processes used {cores:.2f} of the "
                              f"{os.cpu_count()} cores meanwhile; the figure is disturbed")

    def check(self, name: str, value: str, target: str, ok: bool | None) -> None:
        self.checks.append((name, value, target, ok))


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class E2E:
    """One end-to-end run, before it is compared with the baseline."""

    total: int
    run: Run
    stored: Stored
    cross: list[tuple[str, str]]  # duplicates of a different page: (url, original's url)
    load: float  # cores used by other processes meanwhile


def e2e_measure(site: Site, pages: Sequence[Page], work: Path, feeds: int, items: int,
                quiet_wait: float) -> E2E:
    sources, page_of = serve_ingest_site(site, pages, feeds, items)
    db = fresh_db(work / "ingest.db")
    config = write_config(work / "ingest.toml", db, sources)
    total = feeds * items
    say(f"\n[1] end-to-end: {feeds} feeds x {items} items = {total} items, "
        f"{len(set(page_of.values()))} distinct real pages cycled")
    served_before = site.snapshot()
    wait_quiet(quiet_wait)
    run = monitor_run(config, work / "ingest", timeout=3600, sample=True)
    served = site.snapshot() - served_before
    stored = read_db(db)
    ingested = stored.status["done"] + stored.status["duplicate"]
    sampler = run.sampler
    assert sampler is not None
    # dedupe sanity: a duplicate must be a copy of the same benchmark page
    url_of = {row[0]: row[1] for row in stored.rows}
    cross = [(row[1], url_of.get(row[4] or 0, "?")) for row in stored.rows
             if row[2] == "duplicate" and page_of.get(row[1]) != page_of.get(url_of.get(
                 row[4] or 0, ""))]
    say(f"    items: {dict(stored.status)}; done by method: {dict(stored.methods)}; "
        f"served: {dict(served)}")
    say(f"    wall {run.wall:.1f} s -> {ingested / run.wall:.1f} items/s; {_phases(run, stored)}")
    say(f"    CPU of the monitor tree {run.cpu:.1f} s ({run.cpu / run.wall:.2f} cores); "
        f"this process (HTTP server + sampler) {run.server_cpu:.1f} s "
        f"({run.server_cpu / run.wall:.2f} cores); other processes {run.other_cpu:.1f} s "
        f"({run.other_cpu / run.wall:.2f} cores)")
    say(f"    peak RSS: tree {sampler.peak_rss_sum / MB:.0f} MB "
        f"(PSS, sampled every second, {sampler.peak_pss_sum / MB:.0f} MB), "
        f"main process {sampler.peak_rss_main / MB:.0f} MB; up to "
        f"{sampler.peak_processes} processes; {sampler.samples} samples "
        f"({sampler.scan_seconds / max(sampler.samples, 1) * 1000:.1f} ms each)")
    say(f"    duplicates pointing at a different page: {len(cross)}")
    for url, other in cross[:10]:
        say(f"      {url} -> {other}")
    return E2E(total, run, stored, cross, run.other_cpu / run.wall)


def _phases(run: Run, stored: Stored) -> str:
    if not (stored.first_fetch and stored.first_processed and stored.last_processed):
        return ""
    startup = (stored.first_fetch - run.started_at).total_seconds()
    feeds = (stored.first_processed - stored.first_fetch).total_seconds()
    items = (stored.last_processed - stored.first_processed).total_seconds()
    ingested = stored.status["done"] + stored.status["duplicate"]
    return (f"start-up {startup:.1f} s, feeds {feeds:.1f} s (until the first item is "
            f"stored), items {items:.1f} s ({ingested / max(items, 1e-9):.1f} items/s), "
            f"tagging and exit {run.wall - startup - feeds - items:.1f} s")


def e2e_report(m: E2E, bare: Bare, res: Results) -> None:
    run, stored, sampler = m.run, m.stored, m.run.sampler
    assert sampler is not None
    res.disturbance("end-to-end run", run.other_cpu, run.wall)
    ingested = stored.status["done"] + stored.status["duplicate"]
    rate = ingested / run.wall
    ratio = rate / bare.rate
    cores = os.cpu_count() or 1
    n = max(ingested, 1)
    main_cpu = sampler.cpu.get(sampler.pid, 0.0)
    rest_cpu = sum(v for k, v in sampler.cpu.items() if k != sampler.pid)
    ceiling = cores * bare.cpu_per_page / ((run.cpu + run.server_cpu) / n)
    say(f"\n[1+2] end-to-end {rate:.1f} items/s / bare {bare.rate:.1f} pages/s = ratio "
        f"{ratio:.2f}" + (f"; {rate / bare.parallel_rate:.2f} of what bare extraction does "
                          f"in {cores} processes ({bare.parallel_rate:.1f} pages/s)"
                          if bare.parallel_rate else ""))
    say(f"    CPU per item: {run.cpu / n * 1000:.1f} ms in the monitor tree (main process "
        f"{main_cpu / n * 1000:.1f} ms, extraction workers {rest_cpu / n * 1000:.1f} ms) + "
        f"{run.server_cpu / n * 1000:.1f} ms in the HTTP server; bare extract "
        f"{bare.cpu_per_page * 1000:.1f} ms per page -> with {cores} cores fully used the "
        f"ratio could reach {ceiling:.2f}")
    res.figures.update({
        "e2e_items": m.total, "e2e_ingested": ingested, "e2e_status": dict(stored.status),
        "e2e_methods": dict(stored.methods), "e2e_wall_s": run.wall, "e2e_rate": rate,
        "e2e_cpu_s": run.cpu, "server_cpu_s": run.server_cpu, "other_cpu_s": run.other_cpu,
        "peak_rss_tree_mb": sampler.peak_rss_sum / MB,
        "peak_pss_tree_mb": sampler.peak_pss_sum / MB,
        "peak_rss_main_mb": sampler.peak_rss_main / MB, "processes": sampler.peak_processes,
        "ratio": ratio, "e2e_cross_page_duplicates": len(m.cross),
        "cpu_ms_per_item": {"tree": run.cpu / n * 1000, "main": main_cpu / n * 1000,
                            "workers": rest_cpu / n * 1000,
                            "server": run.server_cpu / n * 1000,
                            "bare_per_page": bare.cpu_per_page * 1000},
        "ratio_ceiling": ceiling,
        "ratio_to_parallel_bare": rate / bare.parallel_rate if bare.parallel_rate else None,
        "e2e_phases": _phases(run, stored),
    })
    res.check("end-to-end ingest rate", f"{rate:.1f} items/s", "-", None)
    res.check("bare trafilatura.extract, 1 process", f"{bare.rate:.1f} pages/s", "-", None)
    res.check("ratio end-to-end / bare", f"{ratio:.2f}", f">= {TARGET_RATIO:.1f}",
              ratio >= TARGET_RATIO)
    res.check("items ingested (done + duplicate)", f"{ingested} of {m.total}", f"{m.total}",
              ingested == m.total)
    tree_mb = sampler.peak_rss_sum / MB
    res.check("peak RSS, monitor process tree (sum)", f"{tree_mb:.0f} MB",
              f"< {TARGET_TREE_MB:.0f} MB", tree_mb < TARGET_TREE_MB)
    res.check("peak RSS, main process", f"{sampler.peak_rss_main / MB:.0f} MB", "-", None)
    expected = cores + 2  # main, one worker per core, resource tracker
    res.check("processes in the monitor tree (peak)", str(sampler.peak_processes),
              f"<= {expected}", sampler.peak_processes <= expected)
    res.check("duplicates of a different page (e2e)", str(len(m.cross)), "0", not m.cross)


def f1(site: Site, pages: Sequence[Page], root: Path, work: Path, urls: dict[str, str],
       bare: Bare, res: Results) -> None:
    say(f"\n[4] extraction F1 through the pipeline, {len(pages)} pages")
    sources, page_of = serve_f1_site(site, pages)
    assert all(urls[page_of[u]] == u for u in page_of)
    db = fresh_db(work / "f1.db")
    config = write_config(work / "f1.toml", db, sources)
    run = monitor_run(config, work / "f1", timeout=1800)
    stored = read_db(db, texts=True)
    by_id = {row[0]: row for row in stored.rows}
    texts: dict[str, str] = {}
    why: dict[str, str] = {}
    false_dups = []
    for _id, url, status, text, dup, method, error in stored.rows:
        key = page_of[url]
        if status == "done":
            texts[key] = text or ""
            if method != "page":
                why[key] = f"method={method}: the page was not used ({error or 'no error'})"
        elif status == "duplicate" and dup in by_id:
            original = by_id[dup]
            texts[key] = original[3] or ""
            if page_of.get(original[1]) != key:
                false_dups.append((key, page_of.get(original[1], "?")))
                why[key] = f"stored as a duplicate of another page, {page_of.get(original[1])}"
        else:
            texts[key] = ""
            why[key] = f"status {status}: {error}"
    pipe = score(pages, texts)
    ref = score(pages, bare.texts)
    published = published_check(root, pages)
    if published is not None:
        say(f"    metric check: output/trafilatura.json (trafilatura 2.0.0) scores "
            f"P {published.precision:.3f} R {published.recall:.3f} F1 {published.f1:.3f} "
            "(published: P 0.938 R 0.978 F1 0.958)")
        res.figures["metric_check_trafilatura_2_0_0"] = published.__dict__
    differ = [p.id for p in pages if texts.get(p.id, "") != bare.texts[p.id]]
    say(f"    subprocess {run.wall:.1f} s; items: {dict(stored.status)}; "
        f"by method: {dict(stored.methods)}")
    say(f"    pipeline: P {pipe.precision:.4f} R {pipe.recall:.4f} F1 {pipe.f1:.4f} "
        f"accuracy {pipe.accuracy:.3f}")
    say(f"    bare:     P {ref.precision:.4f} R {ref.recall:.4f} F1 {ref.f1:.4f} "
        f"accuracy {ref.accuracy:.3f}")
    say(f"    F1 difference {pipe.f1 - ref.f1:+.6f}; pages whose text differs: {len(differ)}")
    for key in differ:
        reason = why.get(key) or _first_difference(texts.get(key, ""), bare.texts[key])
        say(f"      {key[:16]}: {reason}")
    if false_dups:
        say(f"    different pages stored as duplicates: {false_dups}")
    res.figures.update({
        "f1_pipeline": pipe.__dict__, "f1_bare": ref.__dict__, "f1_diff": pipe.f1 - ref.f1,
        "f1_pages_differing": differ, "f1_false_duplicates": false_dups,
    })
    res.check("F1 through the pipeline", f"{pipe.f1:.4f}", "= bare", None)
    res.check("F1 bare trafilatura", f"{ref.f1:.4f}", "-", None)
    res.check("F1 difference (pipeline - bare)", f"{pipe.f1 - ref.f1:+.6f}", "0",
              pipe.f1 == ref.f1)
    res.check("pages with a different text", str(len(differ)), "0", not differ)
    res.check("different pages stored as duplicates", str(len(false_dups)), "0",
              not false_dups)


def published_check(root: Path, pages: Sequence[Page]) -> Score | None:
    """This metric on the upstream trafilatura 2.0.0 predictions (a published figure)."""
    path = root / "output" / "trafilatura.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    data = data.get("output", data) if "version" in data else data
    return score(pages, {k: v.get("articleBody", "") or "" for k, v in data.items()})


def _first_difference(a: str, b: str) -> str:
    i = next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
             min(len(a), len(b)))
    return (f"texts differ at character {i} (pipeline {len(a)} chars, bare {len(b)}): "
            f"{a[max(0, i - 30):i + 30]!r} vs {b[max(0, i - 30):i + 30]!r}")


def repoll(site: Site, work: Path, feeds: int, res: Results, attempts: int) -> None:
    say(f"\n[3] re-polling {feeds} unchanged feeds (304 to If-None-Match)")
    sources = serve_unchanged_site(site, feeds)
    db = fresh_db(work / "quiet.db")
    setup = write_config(work / "quiet-setup.toml", db, sources, fetch_articles=False)
    config = write_config(work / "quiet.toml", db, sources)
    before = site.snapshot()
    first = monitor_run(setup, work / "quiet-1", timeout=1800)
    say(f"    first pass (stores the ETags; items from the feeds' own text): {first.wall:.1f} s, "
        f"served {dict(site.snapshot() - before)}")
    second: tuple[Run, Counter[str]] | None = None
    third: tuple[Run, Counter[str]] | None = None
    for attempt in range(1, attempts + 1):
        wait_quiet(res.quiet_wait)
        before = site.snapshot()
        run = monitor_run(config, work / "quiet-2", timeout=600, sample=True)
        served = site.snapshot() - before
        assert run.sampler is not None
        say(f"    pass, `run --once --all` subprocess: {run.wall:.2f} s wall, CPU "
            f"{run.cpu:.1f} s; served {dict(served)}; peak RSS tree "
            f"{run.sampler.peak_rss_sum / MB:.0f} MB; other processes "
            f"{run.other_cpu / run.wall:.2f} cores")
        if second is None or run.other_cpu / run.wall < second[0].other_cpu / second[0].wall:
            second = (run, served)
        wait_quiet(res.quiet_wait)
        before = site.snapshot()
        run = run_subprocess(["-m", "tests.benchmarks.ingest", "--timed-pass", str(config)],
                             log=work / "quiet-3", timeout=600)
        served = site.snapshot() - before
        steps = json.loads(run.stdout.strip().splitlines()[-1])
        startup = run.wall - steps["import"] - steps["prepare"] - steps["run_once"] - steps[
            "close"]
        say(f"    pass, Pipeline in a helper process: {run.wall:.2f} s wall = interpreter "
            f"{startup:.2f} + imports {steps['import']:.2f} + prepare {steps['prepare']:.2f} + "
            f"run_once {steps['run_once']:.2f} + close {steps['close']:.2f}; "
            f"{steps['not_modified']} of {steps['sources']} not modified; served "
            f"{dict(served)}; other processes {run.other_cpu / run.wall:.2f} cores")
        if third is None or run.other_cpu / run.wall < third[0].other_cpu / third[0].wall:
            third = (run, served)
        load = max(second[0].other_cpu / second[0].wall, third[0].other_cpu / third[0].wall)
        if load < QUIET_CORES:
            break
        if attempt < attempts:
            say(f"    disturbed by other processes ({load:.2f} cores): again, attempt "
                f"{attempt + 1} of {attempts}")
    assert second is not None and third is not None
    (cli, served2), (helper, _) = second, third
    res.disturbance("re-poll, CLI pass", cli.other_cpu, cli.wall)
    res.disturbance("re-poll, in-process pass", helper.other_cpu, helper.wall)
    steps = json.loads(helper.stdout.strip().splitlines()[-1])
    res.figures.update({
        "repoll_feeds": feeds, "repoll_first_s": first.wall, "repoll_cli_wall_s": cli.wall,
        "repoll_cli_cpu_s": cli.cpu, "repoll_inprocess": steps,
        "repoll_inprocess_wall_s": helper.wall, "repoll_served": dict(served2),
    })
    all_304 = served2.get("feed 304", 0) == feeds and served2.get("feed 200", 0) == 0
    res.check(f"re-poll {feeds} unchanged feeds, CLI wall", f"{cli.wall:.2f} s",
              f"< {TARGET_REPOLL_S:.0f} s", cli.wall < TARGET_REPOLL_S)
    res.check("  in-process: Pipeline.run_once alone", f"{steps['run_once']:.2f} s", "-", None)
    res.check("  in-process: prepare() (migrate, sources)", f"{steps['prepare']:.2f} s", "-",
              None)
    res.check("  in-process: whole helper process", f"{helper.wall:.2f} s", "-", None)
    res.check("  every feed answered 304", f"{served2.get('feed 304', 0)} x 304, "
              f"{served2.get('feed 200', 0)} x 200", f"{feeds} x 304", all_304)


# --------------------------------------------------------------------------- main


def measure_bare(root: Path, pages: Sequence[Page], urls: dict[str, str], passes: int,
                 quiet_wait: float) -> Bare:
    say(f"\n[2] bare baseline: trafilatura.extract over {len(pages)} pages x {passes}, "
        "one thread")
    wait_quiet(quiet_wait)
    bare = bare_baseline(pages, urls, passes)
    bare.load = bare.other_cpu / sum(bare.seconds)
    say(f"    {bare.rate:.1f} pages/s (passes: {', '.join(f'{s:.2f} s' for s in bare.seconds)}"
        f"); other processes meanwhile {bare.load:.2f} cores")
    cores = os.cpu_count() or 1
    if cores > 1:
        prefix = urls[pages[0].id].removesuffix(f"{pages[0].id}.html")
        bare.parallel_rate, other = parallel_bare(root, prefix, cores)
        bare.load = max(bare.load, other)
        say(f"    the same in {cores} processes at once: {bare.parallel_rate:.1f} pages/s, "
            f"{bare.parallel_rate / bare.rate:.2f} x one process (what {cores} cores give "
            f"this work); other processes meanwhile {other:.2f} cores")
    return bare


def bare_report(bare: Bare, res: Results) -> None:
    res.disturbance("bare baseline", bare.load * sum(bare.seconds), sum(bare.seconds))
    res.figures.update({"bare_rate": bare.rate, "bare_seconds": bare.seconds,
                        "bare_cpu_ms_per_page": bare.cpu_per_page * 1000,
                        "bare_parallel_rate": bare.parallel_rate})


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
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
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

