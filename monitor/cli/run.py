"""``run`` (the daemon, or one pass) and ``status``."""

from __future__ import annotations

import signal
import sys
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from monitor.cli import app, configure_logging, console, state
from monitor.cli.models import print_model_status
from monitor.cli.notify import print_deliveries, print_digest_schedule, print_digests
from monitor.cli.render import ago, stamp, summary_table
from monitor.pipeline import Pipeline
from monitor.scheduler import Daemon
from monitor.types import RunReport
from storage import classifications
from storage import notifications as notes
from storage import repository as repo
from storage.db import database_label, session_scope
from storage.models import DeliveryStatus, ItemStatus, utcnow


@app.command()
def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(
        "--once", help="One pass over the due sources, then exit.")] = False,
    all_sources: Annotated[bool, typer.Option(
        "--all", help="With --once: every enabled source, due or not.")] = False,
) -> None:
    """Run the daemon (default), or one pass with --once."""
    st = state(ctx)
    configure_logging(st.verbose, quiet=once and sys.stdout.isatty())
    settings = st.settings
    pipeline = Pipeline(settings)
    if not once:
        daemon = Daemon(pipeline)

        def _stop(signum: int, _frame: object) -> None:
            daemon.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        console.print(f"monitor daemon on {database_label(settings.resolved_database_url)}; "
                      "SIGTERM or Ctrl-C stops it")
        daemon.run_forever()
        return
    with pipeline:
        pipeline.prepare()
        report = run_pass(pipeline, all_sources=all_sources)
        alerts, digests, deliveries = pipeline.notify()
    print_report(report)
    for outcome in alerts:
        if outcome.matched:
            console.print(f"alert {outcome.rule}: {outcome.matched} new, "
                          f"{outcome.deliveries} message(s)")
    print_digests([d for d in digests if d.state != "exists"])
    print_deliveries(deliveries)


def run_pass(pipeline: Pipeline, *, all_sources: bool) -> RunReport:
    if not sys.stdout.isatty():
        return pipeline.run_once(all_sources=all_sources)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        due = len(pipeline.due(all_sources=all_sources))
        task = bar.add_task("fetching sources", total=due)
        items_task: list[TaskID] = []

        def progress(phase: str, done: int) -> None:
            if phase == "sources":
                bar.update(task, completed=done)
            else:
                if not items_task:
                    items_task.append(bar.add_task("processing items",
                                                   total=len(pipeline.pending())))
                bar.update(items_task[0], completed=done)

        return pipeline.run_once(all_sources=all_sources, progress=progress)


def print_report(report: RunReport) -> None:
    if report.sources:
        console.print(summary_table(report.sources))
    counts = Counter(i.status for i in report.items)
    methods = Counter(i.method for i in report.items if i.status == "done")
    console.print(
        f"items: {counts['done']} stored ({methods['page']} from the page, "
        f"{methods['feed']} from the feed), {counts['duplicate']} duplicates, "
        f"{counts['failed']} failed"
        + (f", {counts['dropped']} dropped" if counts["dropped"] else "")
    )
    failed = sum(1 for r in report.sources if not r.ok)
    if failed:
        console.print(f"[yellow]{failed} of {len(report.sources)} sources failed; "
                      "see `python -m monitor status`[/]")


@app.command()
def status(ctx: typer.Context) -> None:
    """Per-source health: last success, error streak, last error, next attempt."""
    st = state(ctx)
    configure_logging(st.verbose, quiet=True)
    settings = st.settings
    pipeline = Pipeline(settings)
    pipeline.prepare()
    now = utcnow()
    table = Table(title=f"Sources ({database_label(settings.resolved_database_url)})",
                  title_justify="left")
    for col in ("source", "kind", "items", "last success", "errors", "last error",
                "next attempt", "note"):
        table.add_column(col, overflow="fold")
    with session_scope(pipeline.engine) as session:
        health = repo.source_health(session=session)
        counts = repo.item_counts(session=session)
        tagged = classifications.classification_counts(session=session)
        for h in health:
            s = h.source
            notes = []
            if not s.enabled:
                reason = f": {s.disabled_reason}" if s.disabled_reason else ""
                notes.append(f"[red]disabled[/]{reason}")
            usual = h.usual_gap or settings.interval_of_value(s.interval)
            silent_after = timedelta(seconds=usual * settings.schedule.silent_factor)
            since_news = s.last_new_item_at or s.created_at
            if s.enabled and s.last_success_at and since_news and now - since_news > silent_after:
                notes.append(f"[yellow]silent {ago(since_news, now)}[/]")
            table.add_row(
                s.name, s.kind, str(h.items), ago(s.last_success_at, now),
                f"[red]{s.error_streak}[/]" if s.error_streak else "0",
                (s.last_error or "")[:90],
                ago(s.next_attempt_at, now) if s.enabled else "-",
                " ".join(notes),
            )
    console.print(table)
    console.print(
        "items: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ItemStatus.ALL)
        + f"; checked {stamp(now)}"
    )
    waiting = tagged["unclassified"]
    console.print(
        f"classification: {tagged['classified']} tagged, {tagged['relevant']} relevant, "
        + (f"[yellow]{waiting} waiting in the queue[/]" if waiting else "none waiting")
    )
    print_model_status(settings, pipeline.engine)
    print_notify_status(pipeline, now)


def print_notify_status(pipeline: Pipeline, now: datetime) -> None:
    """Deliveries that failed or wait for a retry, and the digests' schedule."""
    with session_scope(pipeline.engine) as session:
        counts = notes.delivery_counts(session=session)
        troubled = [r for r in notes.list_deliveries(session=session, limit=200)
                    if r.status == DeliveryStatus.REFUSED
                    or (r.status == DeliveryStatus.PENDING and r.attempts > 0)]
    if counts:
        console.print("deliveries: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for r in troubled[:20]:
        when = (f"; next try {ago(r.next_attempt_at, now)}"
                if r.status == DeliveryStatus.PENDING else "; not retried: "
                "fix, then `alerts retry --refused`")
        colour = "red" if r.status == DeliveryStatus.REFUSED else "yellow"
        console.print(f"[{colour}]{r.purpose} {r.name} to {r.channel or r.kind} (#{r.id}), "
                      f"{r.attempts} tries: {(r.last_error or '')[:120]}{when}[/]",
                      highlight=False)
    if pipeline.settings.digests:
        print_digest_schedule(pipeline, list(pipeline.settings.digests))
