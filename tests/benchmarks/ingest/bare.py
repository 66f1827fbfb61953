"""The bare baseline: ``trafilatura.extract`` on the same pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.ingest.measure import busy_seconds, say, wait_quiet
from tests.benchmarks.ingest.pages import Page, load_pages
from tests.cli_helpers import ROOT, monitor_env

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
