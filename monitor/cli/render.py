"""Shared rendering for the command line: times, tables of results."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.table import Table

from monitor.types import SourceResult


def ago(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{int(seconds // size)}{unit}"
            break
    else:
        text = f"{int(seconds)}s"
    return f"in {text}" if future else f"{text} ago"


def stamp(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "-"


def summary_table(results: Iterable[SourceResult]) -> Table:
    table = Table(title="Sources this pass", title_justify="left")
    for col in ("source", "new", "unchanged", "failed", "why"):
        table.add_column(col, justify="right" if col in ("new", "unchanged") else "left")
    for r in sorted(results, key=lambda r: r.source_name):
        if r.value is not None:
            v = r.value
            unchanged = "304" if v.not_modified else str(v.seen_items)
            why = "; ".join(v.warnings)[:80] if v.warnings else ""
            table.add_row(r.source_name, str(v.new_items), unchanged, "", why)
        else:
            table.add_row(r.source_name, "", "", "[red]yes[/]",
                          f"{type(r.error).__name__}: {r.error}"[:100])
    return table
