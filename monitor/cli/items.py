"""``items list`` and ``items show``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from monitor.cli import console, fail, open_pipeline
from monitor.cli.render import stamp
from storage import repository as repo
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import Item, ItemStatus

app: typer.Typer = typer.Typer(help="Browse stored items.", no_args_is_help=True)


def parse_since(value: str) -> datetime:
    """``2d``, ``12h``, ``30m`` ago, or an ISO date / datetime (UTC unless it says)."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", value)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}
        return datetime.now(UTC) - delta[unit]
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use 2d, 12h, 30m or an ISO date such as 2026-11-01") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)



def item_dict(item: Item, sources: list[str], *, full: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id, "url": item.url, "title": item.title, "language": item.language,
        "published_at": item.published_at.isoformat() if item.published_at else None,
        "created_at": item.created_at.isoformat() if item.created_at else None,
        "status": item.status, "method": item.method, "sources": sources,
        "duplicate_of": item.duplicate_of_id,
    }
    if full:
        data.update(text=item.text, author=item.author, sitename=item.sitename,
                    summary=item.summary, last_error=item.last_error)
    return data


@app.command("list")
def list_(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="2d, 12h, 30m or an ISO date.")] = None,
    source: Annotated[str | None, typer.Option(help="Only items of this source.")] = None,
    language: Annotated[str | None, typer.Option(
        help="Only this language (en, az, ru...).")] = None,
    search: Annotated[str | None, typer.Option(help="Text to find in title or body.")] = None,
    status: Annotated[str | None, typer.Option(help=f"One of {', '.join(ItemStatus.ALL)}.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one item a line.")] = False,
) -> None:
    """Stored items, newest first."""
    if status is not None and status not in ItemStatus.ALL:
        raise fail(f"--status must be one of {', '.join(ItemStatus.ALL)}")
    when = parse_since(since) if since else None
    pipeline = open_pipeline(ctx)
    with session_scope(pipeline.engine) as session:
        rows = repo.list_items(session=session, since=when, source=source, language=language,
                               search=search, status=status, limit=limit)
        found = [(r, [s.name for s, _ in repo.item_sources(r.id or 0, session=session)])
                 for r in rows]
    if as_json:
        for item, names in found:
            print(json.dumps(item_dict(item, names, full=False), ensure_ascii=False))
        return
    table = Table(title=f"{len(found)} items", title_justify="left")
    for col in ("id", "published", "lang", "from", "sources", "title"):
        table.add_column(col, overflow="fold")
    for item, names in found:
        table.add_row(str(item.id), stamp(item.published_at or item.created_at),
                      item.language or "?", item.method or item.status,
                      escape(", ".join(names)), escape(item.title[:100]))
    console.print(table)


@app.command()
def show(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(help="The item's id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One item in full: metadata, sources, text."""
    pipeline = open_pipeline(ctx)
    with session_scope(pipeline.engine) as session:
        try:
            item = repo.get_item(item_id, session=session)
        except NotFoundError as exc:
            raise fail(str(exc)) from None
        links = repo.item_sources(item_id, session=session)
        names = [s.name for s, _ in links]
        data = item_dict(item, names, full=True)
        first_seen = [(s.name, link.guid, link.first_seen_at) for s, link in links]
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{escape(item.title or '(no title)')}[/]")
    for key in ("id", "url", "status", "method", "language", "published_at", "created_at",
                "author", "sitename", "duplicate_of", "last_error"):
        if data.get(key) not in (None, ""):
            console.print(f"[dim]{key}:[/] {escape(str(data[key]))}", highlight=False)
    for name, guid, seen in first_seen:
        console.print(f"[dim]source:[/] {escape(name)}  (guid {escape(guid)}, first seen "
                      f"{stamp(seen)})", highlight=False)
    console.print()
    console.print(escape(item.text or item.summary or ""), highlight=False)
