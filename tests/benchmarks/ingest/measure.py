"""Measuring on a shared machine: the process tree's memory and CPU, other
processes' load, subprocesses."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.cli_helpers import ROOT, monitor_env

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1_000_000  # memory figures are in MB (10**6 bytes), as the target

TARGET_RATIO = 1.0
#: Other processes using more than this many cores during a measurement disturb it.
QUIET_CORES = 0.15
TARGET_REPOLL_S = 10.0
#: Peak RSS of the whole process tree of the service, in MB (10**6 bytes).
TARGET_TREE_MB = 300.0


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
    PSS_EVERY = 10

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
    #: user + system seconds of the whole tree: getrusage's (descendants that were waited
    #: for), or the sampled sum when larger (the fork server and the workers forked from
    #: it are not children the main process waits for: getrusage misses them)
    cpu: float
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
    if sampler is not None:
        cpu = max(cpu, sum(sampler.cpu.values()))
    own = time.process_time() - own
    other = max(0.0, busy_seconds() - machine_busy - cpu - own)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        raise RuntimeError(f"{' '.join(args)} exited {code}\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return Run(wall, cpu, own, other, started_at, stdout, stderr, sampler)



def say(message: str) -> None:
    print(message, flush=True)

