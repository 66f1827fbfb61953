"""``alerts`` and ``digest``: run rules, preview and send digests, see and retry deliveries."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from monitor.cli import console, fail, open_pipeline
from monitor.cli.items import parse_since
from monitor.cli.render import ago, stamp
from monitor.config import DigestSettings
from monitor.digests import next_instant
from monitor.pipeline import Pipeline
from monitor.types import AlertOutcome, DeliveryOutcome, DigestOutcome
from storage import notifications as notes
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import DeliveryStatus, utcnow

alerts_app: typer.Typer = typer.Typer(help="Alert rules and their deliveries.",
                                      no_args_is_help=True)
digest_app: typer.Typer = typer.Typer(help="Daily digest emails.", no_args_is_help=True)


# --------------------------------------------------------------------------- alerts


@alerts_app.command("run")
def alerts_run(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would match; record and send nothing.")] = False,
) -> None:
    """Evaluate every rule now and send what matched (and any delivery that is due)."""
    with open_pipeline(ctx) as pipeline:
        outcomes = pipeline.run_alerts(dry_run=dry_run)
        sent = [] if dry_run else pipeline.deliver_due()
    print_alerts(outcomes, dry_run=dry_run)
    print_deliveries(sent)
    if any(o.error for o in outcomes) or any(d.state == "refused" for d in sent):
        raise typer.Exit(1)


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        help="Only this status: pending, sent, refused, skipped.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 30,
    digests: Annotated[bool, typer.Option(
        "--digests", help="Digests too, not only alerts.")] = False,
) -> None:
    """Recorded deliveries: rule, channel, items, time and outcome."""
    if status is not None and status not in DeliveryStatus.ALL:
        raise fail(f"unknown status {status!r} (one of {', '.join(DeliveryStatus.ALL)})")
    with open_pipeline(ctx) as pipeline, session_scope(pipeline.engine) as session:
        rows = notes.list_deliveries(session=session, status=status, limit=limit,
                                     purpose=None if digests else "alert")
    now = utcnow()
    table = Table(title="Deliveries", title_justify="left")
    for col in ("id", "kind", "rule / digest", "channel", "items", "created", "status",
                "tries", "last error / next try"):
        table.add_column(col, overflow="fold")
    for r in rows:
        note = (r.last_error or "")[:80]
        if r.status == DeliveryStatus.PENDING and r.next_attempt_at and r.attempts:
            note = f"{note} (next {ago(r.next_attempt_at, now)})"
        table.add_row(str(r.id), r.purpose, r.name, r.channel or r.kind, str(len(r.item_ids)),
                      stamp(r.created_at), _styled(r.status), str(r.attempts), note)
    console.print(table)


@alerts_app.command("retry")
def alerts_retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids.")] = None,
    refused: Annotated[bool, typer.Option(
        "--refused", help="Every refused delivery (after fixing the config).")] = False,
) -> None:
    """Queue deliveries again (a refused one, or one waiting for its next try) and send."""
    with open_pipeline(ctx) as pipeline:
        with session_scope(pipeline.engine) as session:
            chosen = list(ids or [])
            if refused:
                chosen += [r.id for r in notes.list_deliveries(
                    session=session, status=DeliveryStatus.REFUSED, limit=10_000)
                    if r.id is not None]
            if not chosen:
                raise fail("name delivery ids, or give --refused")
            for delivery_id in chosen:
                try:
                    notes.retry_delivery(delivery_id, session=session)
                except NotFoundError as exc:
                    raise fail(str(exc)) from None
        print_deliveries(pipeline.deliver_due())


# --------------------------------------------------------------------------- digests


def _digests(pipeline: Pipeline, name: str | None) -> list[DigestSettings]:
    digests = list(pipeline.settings.digests)
    if not digests:
        raise fail("no digest is configured: add a [[digests]] table to the config file")
    if name is None:
        return digests
    found = pipeline.settings.digest(name)
    if found is None:
        raise fail(f"no digest named {name!r} (configured: "
                   f"{', '.join(d.name for d in digests)})")
    return [found]


@digest_app.command("preview")
def digest_preview(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="The digest (default: the first).")] = None,
    since: Annotated[str | None, typer.Option(
        help="Items since (2d, 12h, an ISO date); default: since the last digest.")] = None,
    fmt: Annotated[Literal["text", "html"], typer.Option(
        "--format", help="text or html.")] = "text",
    output: Annotated[Path | None, typer.Option(
        help="Write to this file instead of standard output.", dir_okay=False)] = None,
) -> None:
    """Show the digest as it would be sent now; records and sends nothing."""
    start = parse_since(since) if since else None
    with open_pipeline(ctx) as pipeline:
        digest = _digests(pipeline, name)[0]
        content, message, began = pipeline.compose_digest(digest, now=utcnow(), since=start)
    body = message.html if fmt == "html" else f"Subject: {message.subject}\n\n{message.text}"
    if output is not None:
        output.write_text(body, encoding="utf-8")
        console.print(f"{digest.name}: {len(content.items)} items since {stamp(began)} "
                      f"written to {output}")
    else:
        print(body)


@digest_app.command("send")
def digest_send(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Only this digest.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be sent; record and send nothing.")] = False,
) -> None:
    """Send the digests whose time has come today and that were not sent yet (the
    daemon does this on schedule); each goes out once per day, whoever sends it."""
    with open_pipeline(ctx) as pipeline:
        chosen = [d.name for d in _digests(pipeline, name)]
        outcomes = pipeline.run_digests(names=chosen, dry_run=dry_run)
        sent = [] if dry_run else pipeline.deliver_due()
    print_digests(outcomes)
    print_deliveries(sent)
    if any(d.state in ("refused", "retry") for d in sent):
        raise typer.Exit(1)


@digest_app.command("status")
def digest_status(ctx: typer.Context) -> None:
    """Each digest: the last one recorded, its outcome, and when the next is due."""
    with open_pipeline(ctx) as pipeline:
        digests = _digests(pipeline, None)
        print_digest_schedule(pipeline, digests)


# --------------------------------------------------------------------------- output


def _styled(status: str) -> str:
    colour = {"sent": "green", "refused": "red", "pending": "yellow"}.get(status)
    return f"[{colour}]{status}[/]" if colour else status


def print_alerts(outcomes: list[AlertOutcome], *, dry_run: bool = False) -> None:
    for o in outcomes:
        if o.error is not None:
            console.print(f"[red]{o.rule}: {o.error}[/]")
        elif o.matched:
            what = "would match" if dry_run else "matched"
            console.print(f"{o.rule}: {what} {o.matched} for the first time"
                          + ("" if dry_run else f", {o.deliveries} message(s) queued"))
            for title in o.titles[:10]:
                console.print(f"  - {title}", highlight=False)
    if not any(o.matched or o.error for o in outcomes):
        console.print("alerts: nothing new matched")


def print_digests(outcomes: list[DigestOutcome]) -> None:
    for o in outcomes:
        words = {"recorded": "queued for sending", "skipped": "nothing in it, skipped",
                 "exists": "already recorded for this day", "preview": "would be sent"}
        to = f" to {', '.join(o.recipients)}" if o.recipients else ""
        console.print(f"digest {o.name} for {o.day}: {words[o.state]} "
                      f"({o.items} items){to}" + (f": {o.subject}" if o.subject else ""),
                      highlight=False)


def print_deliveries(outcomes: list[DeliveryOutcome]) -> None:
    counts = Counter(o.state for o in outcomes)
    for o in outcomes:
        if o.state != "sent":
            when = f", next try {stamp(o.next_attempt_at)}" if o.next_attempt_at else ""
            console.print(f"[yellow]{o.purpose} {o.name} to {o.channel}: {o.state}[/] "
                          f"{o.detail}{when}", highlight=False)
    if outcomes:
        console.print("deliveries: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


def print_digest_schedule(pipeline: Pipeline, digests: list[DigestSettings]) -> None:
    now = datetime.now(UTC)
    table = Table(title="Digests", title_justify="left")
    for col in ("digest", "time", "recipients", "last day", "status", "items", "next"):
        table.add_column(col, overflow="fold")
    with session_scope(pipeline.engine) as session:
        for d in digests:
            recent = notes.list_deliveries(session=session, purpose="digest", name=d.name,
                                           limit=1)
            last = recent[0] if recent else None
            table.add_row(
                d.name, f"{d.time} {d.timezone}", ", ".join(d.to),
                (last.period or "-") if last else "-",
                _styled(last.status) if last else "-",
                str(len(last.item_ids)) if last else "-",
                stamp(next_instant(now, d.time, d.timezone)),
            )
    console.print(table)
