"""``classify``, ``train``, ``evaluate``, ``explain``, ``reclassify``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.markup import escape

from classifiers.dataset import read_labeled
from classifiers.errors import LabelError
from classifiers.evaluation import cross_validate
from classifiers.evaluation import evaluate as evaluate_model
from classifiers.persistence import save_model
from classifiers.types import Document
from monitor.cli import app, configure_logging, console, fail, state
from monitor.cli.models import print_training, record_training
from monitor.config import Settings
from monitor.errors import ClassificationError
from monitor.pipeline import Pipeline
from monitor.tagging import Tagger, train_model, write_info
from storage import repository as repo
from storage.db import session_scope
from storage.errors import NotFoundError

ModelOption = Annotated[
    Path | None, typer.Option("--model", help="Model directory (default: the current model).")]


def _settings(ctx: typer.Context, model: Path | None) -> Settings:
    st = state(ctx)
    settings = st.settings
    if model is not None:
        settings = dataclasses.replace(settings, classifier=dataclasses.replace(
            settings.classifier, model_dir=str(model)))
    return settings


def read_documents(stream: TextIO, source: str) -> list[Document]:
    """JSON Lines of ``{"id", "title", "text", "language"?}``; every bad line is named."""
    docs, problems = [], []
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict) or "id" not in obj or not isinstance(obj.get("text"), str):
            problems.append(f'line {n}: needs an object with "id" and a string "text"')
            continue
        lang = obj.get("language")
        docs.append(Document(str(obj["id"]), str(obj.get("title") or ""), obj["text"],
                             lang if isinstance(lang, str) else None))
    if problems:
        raise fail(f"{source}: " + "; ".join(problems[:10]), code=2)
    return docs


@app.command()
def classify(
    ctx: typer.Context,
    model: ModelOption = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="JSON Lines file (default: standard input).")] = None,
) -> None:
    """Tag JSON Lines of {"id", "title", "text", "language"?}: one result line per item."""
    configure_logging(state(ctx).verbose, quiet=True)
    settings = _settings(ctx, model)
    if input_file is None:
        docs = read_documents(sys.stdin, "<stdin>")
    else:
        with input_file.open(encoding="utf-8") as stream:
            docs = read_documents(stream, str(input_file))
    tagger = Tagger(settings)
    batch = settings.classifier.batch_size
    for start in range(0, len(docs), batch):
        for p in tagger.tag(docs[start:start + batch]):
            print(json.dumps({
                "id": p.id, "relevant": p.relevant, "relevance": round(p.relevance, 4),
                "countries": list(p.countries), "domains": list(p.domains),
                "scores": {k: round(v, 4) for k, v in p.scores.items()},
                "model_version": p.model_version,
            }, ensure_ascii=False))


def _read_extra(paths: list[Path]) -> list[Any]:
    items = []
    for path in paths:
        try:
            items.extend(read_labeled(path))
        except LabelError as exc:
            raise fail(str(exc), code=2) from None
        except OSError as exc:
            raise fail(f"{path}: {exc.strerror}", code=2) from None
    return items


@app.command()
def train(
    ctx: typer.Context,
    extra: Annotated[list[Path] | None, typer.Option(
        help="Labeled JSON Lines (the guide's format); repeatable.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Save the model here instead: not recorded, compared or made current.")] = None,
    no_stored_labels: Annotated[bool, typer.Option(
        "--no-stored-labels", help="Leave out the labels stored in the database.")] = False,
    cv: Annotated[int, typer.Option(
        help="Compare by k-fold cross-validation of both training recipes on every "
             "stored label (k >= 2; 2k more trainings) instead of the held-out labels.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="The outcome as JSON.")] = False,
) -> None:
    """Train a candidate model and compare it with the current one on held-out labels.

    Trained on the seeds, every stored label outside the held-out slice and any extra
    file; saved under <data_dir>/models/<version>/. With no usable current model it
    becomes the current model at once."""
    st = state(ctx)
    configure_logging(st.verbose, quiet=True)
    settings = st.settings
    if cv and cv < 2:
        raise fail("--cv needs at least 2 folds")
    items = _read_extra(extra or [])
    with Pipeline(settings, workers=1) as pipeline:
        pipeline.prepare()
        stored = [] if no_stored_labels else pipeline.stored_labels()
        if cv and len({i.id for i in stored}) < cv:
            raise fail(f"--cv {cv} needs at least {cv} stored labels; there are "
                       f"{len({i.id for i in stored})}")
        model, info = train_model(settings, stored=stored, extra=items,
                                  extra_files=[str(p) for p in extra or []])
        if out is not None:
            save_model(model, out)
            write_info(out, info)
            console.print(f"model [bold]{model.version}[/] trained on the seeds, "
                          f"{info.stored_labels} stored labels ({info.held_out} held out) and "
                          f"{len(items)} extra items; saved to {out}")
            metrics = model.metadata.get("metrics")
            if metrics and not as_json:
                console.print_json(json.dumps(metrics))
            return
        try:
            outcome = record_training(pipeline, model, info, stored=stored, extra=items, cv=cv)
        except ClassificationError as exc:
            raise fail(str(exc), code=2) from None
    if as_json:
        print(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_training(outcome, len(stored))


@app.command()
def evaluate(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="Labeled JSON Lines to score against.")],
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    cv: Annotated[int, typer.Option(
        help="Instead: k-fold cross-validation of seeds + DATA (k >= 2).")] = 0,
) -> None:
    """Precision, recall and F1 for relevance, countries and domains, per language."""
    configure_logging(state(ctx).verbose, quiet=True)
    items = _read_extra([data])
    if cv:
        if cv < 2:
            raise fail("--cv needs at least 2 folds")
        report = cross_validate(items, folds=cv)
    else:
        report = evaluate_model(Tagger(_settings(ctx, model)).model(), items)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.table())


@app.command()
def explain(
    ctx: typer.Context,
    item_id: Annotated[int | None, typer.Argument(help="A stored item's id.")] = None,
    text: Annotated[str | None, typer.Option(help="Explain this text instead.")] = None,
    title: Annotated[str, typer.Option(help="With --text: its title.")] = "",
    model: ModelOption = None,
) -> None:
    """The evidence behind each tag: which words, where."""
    configure_logging(state(ctx).verbose, quiet=True)
    settings = _settings(ctx, model)
    if (item_id is None) == (text is None):
        raise fail("give an item ID or --text, not both")
    if text is not None:
        doc = Document("text", title, text, None)
    else:
        pipeline = Pipeline(settings, workers=1)
        pipeline.prepare()
        with session_scope(pipeline.engine) as session:
            try:
                item = repo.get_item(item_id or 0, session=session)
            except NotFoundError as exc:
                raise fail(str(exc)) from None
            doc = Document(str(item.id), item.title, item.text or item.summary, item.language)
    explanation = Tagger(settings).model().explain(doc)
    console.print(escape(str(explanation)), highlight=False)


@app.command()
def reclassify(
    ctx: typer.Context,
    model: ModelOption = None,
) -> None:
    """Re-tag every stored item with the current model."""
    configure_logging(state(ctx).verbose, quiet=True)
    settings = _settings(ctx, model)
    pipeline = Pipeline(settings, workers=1)
    pipeline.prepare()
    try:
        count = pipeline.classify_items(reclassify=True)
    except ClassificationError as exc:
        raise fail(str(exc), code=2) from None
    console.print(f"re-tagged {count} items with model {pipeline.tagger.model().version}")

