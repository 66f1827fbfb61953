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
   and of all its descendants is sampled from ``/proc`` every 50 ms, their PSS every
   0.5 s: peaks of both sums (target < 300 MB; RSS counts a page shared by several
   processes once in each, PSS divides it among them) and of the main process alone.
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

Modules: ``pages`` (the benchmark's pages and its metric), ``measure`` (memory and CPU
of a process tree, a shared machine, subprocesses), ``site`` (the loopback site, the
service's configs and what it stored), ``bare`` (the baseline), ``scenarios`` (the
four measurements and their checks), ``__main__`` (the command line).
"""

