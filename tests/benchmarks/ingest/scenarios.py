"""The scenarios: end-to-end ingest, extraction F1, re-polling unchanged feeds."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.benchmarks.ingest.bare import Bare
from tests.benchmarks.ingest.measure import (
    MB,
    QUIET_CORES,
    TARGET_RATIO,
    TARGET_REPOLL_S,
    TARGET_TREE_MB,
    Run,
    run_subprocess,
    say,
    wait_quiet,
)
from tests.benchmarks.ingest.pages import Page, first_difference, published_check, score
from tests.benchmarks.ingest.site import (
    Site,
    Stored,
    fresh_db,
    monitor_run,
    read_db,
    serve_f1_site,
    serve_ingest_site,
    serve_unchanged_site,
    write_config,
)

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
        f"(PSS, sampled every 0.5 s, {sampler.peak_pss_sum / MB:.0f} MB), "
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
    pss_mb = sampler.peak_pss_sum / MB
    res.check("peak PSS, monitor process tree (sum)", f"{pss_mb:.0f} MB",
              f"< {TARGET_TREE_MB:.0f} MB", pss_mb < TARGET_TREE_MB)
    res.check("peak RSS, main process", f"{sampler.peak_rss_main / MB:.0f} MB", "-", None)
    # main, resource tracker, the extraction processes' fork server, one worker per core
    expected = cores + 3
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
        reason = why.get(key) or first_difference(texts.get(key, ""), bare.texts[key])
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


def bare_report(bare: Bare, res: Results) -> None:
    res.disturbance("bare baseline", bare.load * sum(bare.seconds), sum(bare.seconds))
    res.figures.update({"bare_rate": bare.rate, "bare_seconds": bare.seconds,
                        "bare_cpu_ms_per_page": bare.cpu_per_page * 1000,
                        "bare_parallel_rate": bare.parallel_rate})
