"""``label`` (the terminal labeler) and ``labels export | import | agreement``."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from classifiers.taxonomy import load_taxonomy
from monitor.cli import app, console, fail, open_pipeline
from monitor.cli.items import parse_since
from monitor.errors import LabelingError
from monitor.pipeline import Pipeline
from monitor.pipeline.labels import LabelView, QueueFilter

labels_app: typer.Typer = typer.Typer(help="Labeled data in and out.", no_args_is_help=True)

#: Keys that toggle domains, in the taxonomy's order: the same as on the web page.
DOMAIN_KEYS = "1234567890qwedf"
HELP = ("[bold]a[/] accept   [bold]r[/] not relevant   [bold]s[/]/[bold]Enter[/] save as "
        "marked   [bold]t[/] toggle relevant   [bold]1[/]..[bold]0 q w e d f[/] toggle a "
        "domain   [bold]c[/] countries   [bold]n[/] skip   [bold]u[/] undo last   "
        "[bold]x[/] quit")


def _default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "annotator"


@app.command()
def label(
    ctx: typer.Context,
    annotator: Annotated[str | None, typer.Option(
        help="Your name in the labels (default: the login name).")] = None,
    source: Annotated[str | None, typer.Option(help="Only items of this source.")] = None,
    language: Annotated[str | None, typer.Option(help="Only this language.")] = None,
    since: Annotated[str | None, typer.Option(help="Only items stored since (2d, ISO).")] = None,
    country: Annotated[str | None, typer.Option(help="Only this predicted country.")] = None,
    domain: Annotated[str | None, typer.Option(help="Only this predicted domain.")] = None,
    limit: Annotated[int, typer.Option(help="Stop after this many items.")] = 50,
) -> None:
    """Label items in the terminal, one key per decision, most useful items first."""
    if not sys.stdin.isatty():
        raise fail("the labeler needs a terminal (use `labels import` for files)")
    who = annotator or _default_annotator()
    filters = QueueFilter(source=source, language=language,
                          since=parse_since(since) if since else None,
                          country=country.upper() if country else None, domain=domain)
    with open_pipeline(ctx) as pipeline:
        done = _session(pipeline, who, filters, limit)
    console.print(f"{done} label(s) stored by {who}", highlight=False)


def _session(pipeline: Pipeline, who: str, filters: QueueFilter, limit: int) -> int:
    domains = [d.id for d in load_taxonomy().domains]
    entries = pipeline.label_queue(filters=filters, limit=limit)
    queue = [e.candidate.item_id for e in entries]
    reasons = {e.candidate.item_id: e.reasons for e in entries}
    if not queue:
        console.print("nothing to label: every tagged item matching the filters has a label")
        return 0
    done = 0
    position = 0
    while position < len(queue):
        view = pipeline.label_view(queue[position])
        state = _State.from_view(view)
        while True:
            _show(view, state, domains, reasons.get(view.item_id, ()), position, len(queue))
            key = typer.getchar()
            if key in ("x", "\x03", "\x04", "\x1b"):
                return done
            if key in ("\r", "\n", "s", "a", "r"):
                if key == "a":  # the model's suggestion as it is
                    state = _State.from_view(view)
                elif key == "r":
                    state.relevant, state.countries, state.domains = False, [], []
                try:
                    pipeline.save_label(view.item_id, annotator=who, relevant=state.relevant,
                                        countries=state.countries, domains=state.domains,
                                        suggested_by=view.suggestion.model_version
                                        if view.suggestion else None)
                except LabelingError as exc:
                    console.print(f"[red]{exc}[/]", highlight=False)
                    continue
                done += 1
                position += 1
                break
            if key in ("n", "j"):
                position += 1
                break
            if key == "u":
                item = pipeline.undo_last_label(annotator=who)
                if item is not None:
                    done -= 1
                    if item in queue[:position]:
                        position = queue.index(item)
                    else:
                        queue.insert(position, item)
                    console.print(f"[yellow]label of item {item} taken back[/]")
                    break
                console.print("[yellow]nothing to undo[/]")
            elif key == "t":
                state.relevant = not state.relevant
            elif key == "c":
                typed = typer.prompt("partner countries (ISO codes, space-separated)",
                                     default=" ".join(state.countries), show_default=True)
                state.countries = sorted({c.upper() for c in typed.replace(",", " ").split()})
                state.relevant = state.relevant or bool(state.countries)
            elif key in DOMAIN_KEYS[: len(domains)]:
                chosen = domains[DOMAIN_KEYS.index(key)]
                if chosen in state.domains:
                    state.domains.remove(chosen)
                else:
                    state.domains.append(chosen)
                    state.relevant = True
    return done


class _State:
    def __init__(self, relevant: bool, countries: list[str], domains: list[str]) -> None:
        self.relevant = relevant
        self.countries = countries
        self.domains = domains

    @classmethod
    def from_view(cls, view: LabelView) -> _State:
        s = view.suggestion
        if s is None:
            return cls(False, [], [])
        return cls(s.relevant, list(s.countries), list(s.domains))


def _show(view: LabelView, state: _State, domains: list[str], reasons: tuple[str, ...],
          position: int, total: int) -> None:
    console.clear()
    head = Text(f"[{position + 1}/{total}] ", style="dim")
    head.append(view.title or "(no title)", style="bold")
    meta = ", ".join(view.sources) + f" · {view.language or '?'} · item {view.item_id}"
    if reasons:
        meta += " · " + "; ".join(reasons)
    body = Text(view.text[:1500] + ("…" if len(view.text) > 1500 else ""))
    console.print(Panel(body, title=head, subtitle=Text(meta), title_align="left"))
    s = view.suggestion
    table = Table.grid(padding=(0, 2))
    verdict = "[green]relevant[/]" if state.relevant else "[red]not relevant[/]"
    shown = f" (model {s.relevance:.2f}, {s.model_version})" if s else " (no suggestion)"
    table.add_row("relevance", verdict + shown)
    table.add_row("countries", Text(" ".join(state.countries) or "-"))
    cells = []
    for key, d in zip(DOMAIN_KEYS, domains, strict=False):
        mark = "[bold green]■[/]" if d in state.domains else "□"
        score = f" {s.scores.get(d, 0):.2f}" if s else ""
        cells.append(f"[bold]{key}[/] {mark} {d}{score}")
    table.add_row("domains", "\n".join("   ".join(cells[i:i + 3])
                                       for i in range(0, len(cells), 3)))
    console.print(table)
    console.print(HELP)


# --------------------------------------------------------------------------- files


@labels_app.command("export")
def labels_export(
    ctx: typer.Context,
    fmt: Annotated[Literal["jsonl"], typer.Option("--format", help="jsonl (the guide's)")
                   ] = "jsonl",
    output: Annotated[Path | None, typer.Option(
        help="Write here instead of standard output.", dir_okay=False)] = None,
    annotator: Annotated[str | None, typer.Option(help="Only this annotator's.")] = None,
) -> None:
    """Every current label in the labeling guide's JSON Lines (one line per item)."""
    with open_pipeline(ctx) as pipeline:
        if output is None:
            count = pipeline.export_labels(sys.stdout, annotator=annotator)
        else:
            with output.open("w", encoding="utf-8") as out:
                count = pipeline.export_labels(out, annotator=annotator)
    if output is not None:
        console.print(f"{count} labeled items written to {output}")


@labels_app.command("import")
def labels_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="JSON Lines in the guide's format.",
                                         exists=True, dir_okay=False)],
    annotator: Annotated[str | None, typer.Option(
        help="Whose labels these are (default: the file's name).")] = None,
) -> None:
    """Validate a labels file against the guide, then store it whole (or nothing)."""
    who = annotator or f"import:{path.stem}"
    with open_pipeline(ctx) as pipeline:
        try:
            stored, created = pipeline.import_labels(path, annotator=who)
        except LabelingError as exc:
            raise fail(str(exc)) from None
    console.print(f"{stored} labels stored as {who!r} ({created} new items, "
                  f"{stored - created} matched stored items)", highlight=False)


@labels_app.command("agreement")
def labels_agreement(ctx: typer.Context) -> None:
    """Agreement between annotators on the items both labeled."""
    with open_pipeline(ctx) as pipeline:
        rows = pipeline.label_agreement()
    if not rows:
        console.print("no item has labels from two annotators yet")
        return
    table = Table(title="Agreement between annotators", title_justify="left")
    for col in ("annotators", "items", "relevance agree", "kappa", "countries (Jaccard)",
                "domains (Jaccard)"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r.first} / {r.second}", str(r.items), f"{r.relevance:.0%}",
                      "-" if r.kappa is None else f"{r.kappa:.2f}", f"{r.countries:.2f}",
                      f"{r.domains:.2f}")
    console.print(table)
