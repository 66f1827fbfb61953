"""``demo``: the whole pipeline against a bundled sample site on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from monitor.cli import app, configure_logging, console, state
from monitor.cli.run import print_report
from monitor.demo.server import DemoSite
from monitor.pipeline import Pipeline
from storage import classifications
from storage import repository as repo
from storage.db import database_label, session_scope
from storage.errors import NotFoundError


@app.command()
def demo(
    ctx: typer.Context,
    database: Annotated[str | None, typer.Option(
        help="Database URL to ingest into (default: a fresh SQLite file).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where the fresh SQLite file goes (default: a new temporary folder).")] = None,
) -> None:
    """Serve a bundled sample site on 127.0.0.1, ingest it, show what was stored.

    No internet needed: feeds in English, Azerbaijani and Russian, a listing page,
    a news sitemap, a moved feed, a missing article, duplicates and broken feeds.
    """
    st = state(ctx)
    configure_logging(st.verbose, quiet=True)
    folder = data_dir or Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    with DemoSite() as site:
        settings = dataclasses.replace(
            st.settings,
            data_dir=folder,
            database_url=database or f"sqlite:///{folder / 'demo.db'}",
            include_default_sources=False,
            sources=site.sources(),
            fetch=dataclasses.replace(
                st.settings.fetch, allowed_hosts=("127.0.0.1",),
                connect_timeout=5.0, read_timeout=10.0, total_timeout=20.0,
                backoff_base=1.0,
            ),
        )
        console.print(f"[bold]demo site[/] at {site.base_url}, "
                      f"{len(settings.sources)} sources; database "
                      f"{database_label(settings.resolved_database_url)}")
        with Pipeline(settings) as pipeline:
            pipeline.prepare()
            report = pipeline.run_once(all_sources=True)
            print_report(report)
            show_items(pipeline)
            console.print("\n[bold]second pass[/] (conditional GET: unchanged feeds cost "
                          "nothing; nothing is stored twice)")
            again = pipeline.run_once(all_sources=True)
            print_report(again)
    console.print(f"\nexplore it: python -m monitor -c <config> items list, or set "
                  f"MONITOR_DATABASE_URL={settings.resolved_database_url}")


def show_items(pipeline: Pipeline) -> None:
    with session_scope(pipeline.engine) as session:
        rows = repo.list_items(session=session, limit=100, include_duplicates=True)
        table = Table(title=f"{len(rows)} items stored", title_justify="left")
        for col in ("id", "lang", "from", "status", "sources", "title", "relevant",
                    "countries", "domains"):
            table.add_column(col, overflow="fold")
        for item in sorted(rows, key=lambda r: r.id or 0):
            names = ", ".join(s.name for s, _ in repo.item_sources(item.id or 0,
                                                                   session=session))
            status = item.status
            if item.duplicate_of_id:
                status = f"dup of {item.duplicate_of_id}"
            try:
                tag = classifications.get_classification(item.id or 0, session=session)
                tags = (f"{tag.relevance:.2f}" if tag.relevant else "no",
                        " ".join(tag.countries), ", ".join(tag.domains))
            except NotFoundError:
                tags = ("-", "", "")
            table.add_row(str(item.id), item.language or "?", item.method or "-", status,
                          names, item.title[:60], *tags)
    console.print(table)
