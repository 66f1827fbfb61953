"""``sources list|add|remove|check``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from monitor.cli import console, fail, open_pipeline
from monitor.cli.render import ago
from monitor.config import check_source_spec
from monitor.errors import ConfigError, MonitorError
from monitor.pipeline import spec_to_create
from monitor.types import SOURCE_KINDS, SourceSpec
from storage import repository as repo
from storage.db import session_scope
from storage.errors import NotFoundError

app: typer.Typer = typer.Typer(help="List, add, remove and check sources.", no_args_is_help=True)



@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one source a line.")] = False,
) -> None:
    """Every source, with its kind, interval and state."""
    pipeline = open_pipeline(ctx)
    with session_scope(pipeline.engine) as session:
        rows = repo.list_sources(session=session)
        if as_json:
            for s in rows:
                console.print_json(json.dumps({
                    "name": s.name, "url": s.url, "kind": s.kind, "language": s.language,
                    "interval": pipeline.settings.interval_of_value(s.interval),
                    "enabled": s.enabled, "origin": s.origin, "note": s.note,
                }, ensure_ascii=False), indent=None)
            return
        table = Table(title=f"{len(rows)} sources", title_justify="left")
        for col in ("name", "kind", "lang", "every", "enabled", "origin", "url", "note"):
            table.add_column(col, overflow="fold")
        for s in rows:
            every = pipeline.settings.interval_of_value(s.interval)
            table.add_row(s.name, s.kind, s.language or "", f"{every / 60:.0f}m",
                          "yes" if s.enabled else "[red]no[/]", s.origin, s.url, s.note)
    console.print(table)


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short unique name: a-z, 0-9, '.', '_', '-'.")],
    url: Annotated[str, typer.Argument(help="The feed, listing page or sitemap URL.")],
    kind: Annotated[str, typer.Option(help="feed | page | sitemap")] = "feed",
    interval: Annotated[float | None, typer.Option(help="Seconds between polls.")] = None,
    language: Annotated[str | None, typer.Option(help="Language hint (ISO 639-1).")] = None,
    selector: Annotated[str | None, typer.Option(
        help="page: CSS selector of article links.")] = None,
    pattern: Annotated[str | None, typer.Option(help="page: regex the article URLs match.")] = None,
    note: Annotated[str, typer.Option(help="What this source is.")] = "",
) -> None:
    """Add a source (stored in the database, polled by the running daemon)."""
    if kind not in SOURCE_KINDS:
        raise fail(f"--kind must be one of {', '.join(SOURCE_KINDS)}")
    spec = SourceSpec(name=name, url=url, kind=kind, interval=interval,
                      language=language, note=note, link_selector=selector,
                      link_pattern=pattern)
    try:
        check_source_spec(spec)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    pipeline = open_pipeline(ctx)
    with session_scope(pipeline.engine) as session:
        try:
            repo.add_source(spec_to_create(spec, origin="cli"), session=session)
        except ValueError as exc:
            raise fail(str(exc)) from None
    console.print(f"added source [bold]{name}[/] ({kind}) {url}")


@app.command()
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name.")],
) -> None:
    """Remove a source: it is no longer polled; its items stay."""
    pipeline = open_pipeline(ctx)
    with session_scope(pipeline.engine) as session:
        try:
            repo.remove_source(name, session=session)
        except NotFoundError as exc:
            raise fail(str(exc)) from None
    console.print(f"removed source [bold]{name}[/]; its items are kept")


@app.command()
def check(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name.")],
) -> None:
    """Fetch a source now and show what would be ingested, storing nothing."""
    pipeline = open_pipeline(ctx)
    with session_scope(pipeline.engine) as session:
        try:
            src = repo.get_source_by_name(name, session=session)
        except NotFoundError as exc:
            raise fail(str(exc)) from None
        source_id = src.id
        assert source_id is not None
    try:
        preview = pipeline.preview_source(source_id)
    except MonitorError as exc:
        raise fail(f"{name}: {type(exc).__name__}: {exc}") from None
    finally:
        pipeline.close()
    outcome, entries = preview
    console.print(f"[bold]{name}[/]: HTTP {outcome.http_status}, {outcome.bytes} bytes, "
                  f"{len(entries)} entries, {outcome.new_items} not stored yet")
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    table = Table(show_header=True)
    for col in ("new", "published", "title", "url"):
        table.add_column(col, overflow="fold")
    for entry, is_new in entries:
        table.add_row("yes" if is_new else "", ago(entry.published), entry.title[:80], entry.url)
    console.print(table)

