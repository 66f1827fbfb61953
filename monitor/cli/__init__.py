"""``python -m monitor``: the command line. The only module that reads argv and
configures logging."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from classifiers.errors import ClassifierError
from monitor.config import Settings, load_settings
from monitor.errors import MonitorError
from monitor.pipeline import Pipeline
from storage.errors import StorageError

__all__ = ["app", "main"]

app = typer.Typer(
    help="Monitor news of international health cooperation: fetch, extract, store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@dataclass
class State:
    config: Path | None = None
    verbose: int = 0
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings


def configure_logging(verbose: int, *, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else logging.INFO if verbose == 0 else logging.DEBUG
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
        fmt = "%(name)s: %(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "trafilatura", "htmldate", "courlan",
                  "charset_normalizer", "alembic"):
        logging.getLogger(noisy).setLevel(
            logging.WARNING if verbose < 2 else logging.DEBUG)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config file (else MONITOR_CONFIG).",
                     dir_okay=False),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More logging (-vv for libraries).")] = 0,
) -> None:
    ctx.obj = State(config=config, verbose=verbose)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def open_pipeline(ctx: typer.Context) -> Pipeline:
    """A pipeline on the configured database, schema up to date, for short commands."""
    st = state(ctx)
    configure_logging(st.verbose, quiet=True)
    pipeline = Pipeline(st.settings, workers=1)
    pipeline.prepare()
    return pipeline


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


# Sub-command modules register themselves on ``app``.
from monitor.cli import classify, demo, items, label, notify, run, sources  # noqa: E402

app.add_typer(sources.app, name="sources")
app.add_typer(items.app, name="items")
app.add_typer(notify.alerts_app, name="alerts")
app.add_typer(notify.digest_app, name="digest")
app.add_typer(label.labels_app, name="labels")
__commands__ = (run, demo, classify, label)
from monitor.cli import serve  # noqa: E402, F401  (the labeling web page)


def main() -> None:
    try:
        app()
    except (MonitorError, StorageError, ClassifierError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
