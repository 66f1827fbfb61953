"""``model list``, ``model show``, ``model promote``; what ``train`` records and compares.

A model made by ``train`` is saved under ``<data_dir>/models/<version>/`` and recorded
in the ``model_version`` table: a **candidate**, unless there is no usable current
model (then it becomes **current** at once). ``train`` scores the candidate and the
current model on the held-out slice of the stored labels (see :mod:`monitor.tagging`:
labels neither model was trained on) or, with ``--cv K``, cross-validates both
recipes; ``model promote`` switches the current model (the old one is **retired**, and
can be promoted again).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from classifiers.comparison import (
    LabelComparison,
    Recipe,
    compare_reports,
    comparison_table,
    cross_validate_recipes,
    key_figures,
)
from classifiers.dataset import load_seeds
from classifiers.evaluation import EvaluationReport
from classifiers.evaluation import evaluate as evaluate_model
from classifiers.prediction import Classifier
from classifiers.types import LabeledItem
from monitor.cli import app, console, fail, open_pipeline
from monitor.cli.render import ago, stamp
from monitor.config import Settings
from monitor.errors import ClassificationError
from monitor.pipeline import Pipeline
from monitor.tagging import HOLDOUT_BUCKETS, ModelStore, TrainingInfo, split_held_out
from storage import models_registry as registry
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import ModelState, ModelVersion, utcnow

MIN_HELDOUT = 10  # fewer held-out labels than this say little: --cv is offered

model_app: typer.Typer = typer.Typer(help="Trained models: history, details, promotion.",
                                     no_args_is_help=True)
app.add_typer(model_app, name="model")


# --------------------------------------------------------------------------- the registry


def sync_registry(store: ModelStore, *, session: Session) -> None:
    """Record the model in the current model's directory if the registry does not know
    it as current (the daemon's first model, a model saved there by hand or with
    ``train --out``): a plain directory is archived under ``models/`` first."""
    try:
        saved = store.current()
    except ClassificationError:
        return  # an unreadable model: nothing to record
    if saved is None or not saved.version:
        return
    try:
        row = registry.get_version(saved.version, session=session)
    except NotFoundError:
        archived = store.archive_current() or saved
        info = saved.info or TrainingInfo()
        registry.register_version(
            saved.version, session=session, path=str(archived.path),
            state=ModelState.CURRENT, created_at=_parse_time(saved.created),
            seeds=info.seeds, stored_labels=info.stored_labels, extra=info.extra,
            label_ids=info.label_ids,
            note=f"found in {store.current_dir} (not made by `train`: the daemon's first "
                 "model, or saved there by hand)"
                 + ("" if saved.info and saved.info.label_ids is not None
                    else "; the labels it was trained on are not known"))
        return
    if row.state != ModelState.CURRENT:
        registry.promote(row.version, session=session)


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else None


# --------------------------------------------------------------------------- train


@dataclass
class TrainingOutcome:
    """What ``train`` did: the model, where it went, and what it was compared with."""

    version: str
    state: str  # candidate | current | unchanged
    path: Path | None
    info: TrainingInfo
    figures: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    rows: list[LabelComparison] = field(default_factory=list)
    current_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "state": self.state,
                "path": None if self.path is None else str(self.path),
                "training": self.info.to_dict(), "figures": self.figures,
                "messages": self.messages}


def record_training(pipeline: Pipeline, model: Classifier, info: TrainingInfo, *,
                    stored: Sequence[LabeledItem], extra: Sequence[LabeledItem] = (),
                    cv: int = 0) -> TrainingOutcome:
    """Save a newly trained model as a candidate (or as the current model when there
    is no usable one), compare it with the current model, record it."""
    settings = pipeline.settings
    store = ModelStore(settings)
    with session_scope(pipeline.engine) as session:
        sync_registry(store, session=session)
        current_row = registry.current_version(session=session)
    outcome = TrainingOutcome(model.version, ModelState.CANDIDATE, None, info)
    current_model: Classifier | None = None
    try:
        saved = store.current()
        if saved is not None:
            current_model = store.load_current()
    except ClassificationError as exc:
        outcome.messages.append(f"the current model cannot be used by this code ({exc}): "
                                "the new model replaces it")
    if current_model is not None and current_model.version == model.version:
        outcome.state = "unchanged"
        outcome.messages.append("the same data and code give the current model again: "
                                "nothing to compare or promote")
        return outcome
    if current_model is not None:
        outcome.current_version = current_model.version
    outcome.path = store.save(model, info)
    current_ids: set[str] | None = None
    if current_model is not None:
        row = current_row if current_row and current_row.version == current_model.version \
            else None
        ids = row.label_ids if row is not None else None
        current_ids = None if ids is None else set(ids)
    outcome.figures = _compare(settings, model, current_model, current_ids, stored=stored,
                               extra=extra, cv=cv, outcome=outcome)
    if current_model is None:
        store.make_current(model.version)
        outcome.state = ModelState.CURRENT
    with session_scope(pipeline.engine) as session:
        row = registry.register_version(
            model.version, session=session, path=str(outcome.path), state=outcome.state,
            seeds=info.seeds, stored_labels=info.stored_labels, extra=info.extra,
            label_ids=info.label_ids, figures=outcome.figures,
            note=("extra files: " + ", ".join(info.extra_files)) if info.extra_files else "")
        if row.state != outcome.state:
            outcome.messages.append(f"this model was trained before; it stays {row.state}")
            outcome.state = row.state
    return outcome


def _compare(settings: Settings, model: Classifier, current: Classifier | None,
             current_ids: set[str] | None, *, stored: Sequence[LabeledItem],
             extra: Sequence[LabeledItem], cv: int, outcome: TrainingOutcome,
             ) -> dict[str, Any]:
    notes = outcome.messages
    held = split_held_out(stored)[1]
    cur_report: EvaluationReport | None = None
    if cv:
        if len({i.id for i in stored}) < cv:
            raise ClassificationError(f"--cv {cv} needs at least {cv} stored labels; there "
                                      f"are {len({i.id for i in stored})}")
        seeds = load_seeds(settings.seeds_dir)
        recipes = {"candidate": Recipe([*seeds, *extra])}
        if current is not None and current_ids is not None:
            recipes["current"] = Recipe(seeds, current_ids)
        elif current is not None:
            notes.append("the stored labels the current model was trained on are not "
                         "known: only the candidate's recipe is cross-validated")
        reports = cross_validate_recipes(stored, recipes, folds=cv,
                                         home=settings.home_country)
        cand_report, cur_report = reports["candidate"], reports.get("current")
        method, items = "cross-validation", len(stored)
        notes.append(
            f"{cv}-fold cross-validation on all {len(stored)} stored labels: each fold "
            "trained with the candidate's recipe (the seeds, the other folds"
            + (", the extra files" if extra else "") + ")"
            + (" and the current model's (the seeds and the labels of the other folds it "
               "was trained on, without any extra file)" if cur_report else "")
            + "; this compares the training data, not the saved models")
    else:
        unseen = held if current_ids is None else [i for i in held if i.id not in current_ids]
        if current is not None and current_ids is None:
            notes.append("the labels the current model was trained on are not recorded: it "
                         "may have seen some of the held-out labels")
        if not unseen:
            notes.append(
                "no held-out labels yet (one stored label in "
                f"{HOLDOUT_BUCKETS} is kept out of training): nothing to compare on"
                + (f"; `train --cv 5` cross-validates on the {len(stored)} stored labels"
                   if len(stored) >= 5 else ""))
            return {"method": "none", "items": 0, "notes": list(notes)}
        cand_report = evaluate_model(model, unseen)
        if current is not None:
            cur_report = evaluate_model(current, unseen)
        method, items = "held-out", len(unseen)
        if len(unseen) < MIN_HELDOUT:
            notes.append(
                f"only {len(unseen)} held-out labels: too few to tell two models apart"
                + (f"; `train --cv 5` cross-validates both recipes on all {len(stored)} "
                   "stored labels" if len(stored) >= 5 else ""))
    outcome.rows = compare_reports(cand_report, cur_report)
    return {
        "method": method, "items": items, "notes": list(notes),
        "key": key_figures(cand_report),
        "candidate": cand_report.to_dict(),
        "current": None if cur_report is None or current is None else {
            "version": current.version, "key": key_figures(cur_report),
            "report": cur_report.to_dict()},
        "comparison": [r.to_dict() for r in outcome.rows],
    }


def print_training(outcome: TrainingOutcome, stored_total: int) -> None:
    info = outcome.info
    console.print(
        f"model [bold]{outcome.version}[/] trained on the seeds ({info.seeds}), "
        f"{info.stored_labels} stored labels ({info.held_out} more held out) and "
        f"{info.extra} extra items"
        + (f"; saved to {outcome.path}" if outcome.path else ""), highlight=False)
    if info.extra_held_out:
        console.print(f"{info.extra_held_out} extra items are held-out stored labels: left "
                      "out of training", highlight=False)
    figures = outcome.figures
    method = figures.get("method")
    if method in ("held-out", "cross-validation"):
        if method == "cross-validation":
            what = f"{figures['items']} stored labels, cross-validated"
        elif figures.get("current"):
            what = f"{figures['items']} held-out labels neither model was trained on"
        else:
            what = f"{figures['items']} held-out labels it was not trained on"
        if figures.get("current"):
            console.print(f"compared with the current model {outcome.current_version} on "
                          f"{what}:", highlight=False)
        else:
            console.print(f"scored on {what} (no current model to compare with):",
                          highlight=False)
        print(comparison_table(outcome.rows, current=outcome.current_version or "-",
                               candidate=outcome.version))
    for note in outcome.messages:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if outcome.state == ModelState.CURRENT:
        console.print(f"model {outcome.version} is the current model now; "
                      "`python -m monitor reclassify` re-tags the stored items with it",
                      highlight=False)
    elif outcome.state in (ModelState.CANDIDATE, ModelState.RETIRED):
        console.print(f"{outcome.state} {outcome.version}: `python -m monitor model promote "
                      f"{outcome.version}` makes it current, then `python -m monitor "
                      "reclassify` re-tags the stored items", highlight=False)


# --------------------------------------------------------------------------- model commands


def _figures_cell(row: ModelVersion) -> str:
    figures = row.figures or {}
    cand = figures.get("candidate")
    if not cand:
        return "-"
    k = key_figures(cand)
    text = "/".join("-" if v is None else f"{v:.2f}" for v in k.values())
    cur = (figures.get("current") or {}).get("report")
    if cur:
        c = key_figures(cur)
        text += " vs " + "/".join("-" if v is None else f"{v:.2f}" for v in c.values())
    label = "cv" if figures.get("method") == "cross-validation" else "held-out"
    return f"{text} ({label}, {figures.get('items', 0)})"


def _trained_on(row: ModelVersion) -> str:
    return f"{row.seeds} seeds, {row.stored_labels} labels, {row.extra} extra"


@model_app.command("list")
def model_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines.")] = False,
) -> None:
    """Every model version, newest first: state, when, what it was trained on, figures."""
    with open_pipeline(ctx) as pipeline:
        store = ModelStore(pipeline.settings)
        with session_scope(pipeline.engine) as session:
            sync_registry(store, session=session)
            rows = registry.list_versions(session=session)
    if as_json:
        for r in rows:
            print(json.dumps(_row_dict(r), ensure_ascii=False))
        return
    if not rows:
        console.print("no model yet: `python -m monitor train` makes one")
        return
    now = utcnow()
    table = Table(title="Models (figures: relevance / countries / domains F1 when trained, "
                        "candidate vs the model then current)", title_justify="left")
    for col in ("version", "state", "created", "promoted", "trained on", "figures"):
        table.add_column(col, overflow="fold")
    colour = {ModelState.CURRENT: "green", ModelState.CANDIDATE: "yellow"}
    for r in rows:
        state = f"[{colour[r.state]}]{r.state}[/]" if r.state in colour else r.state
        table.add_row(r.version, state, ago(r.created_at, now),
                      ago(r.promoted_at, now) if r.promoted_at else "-", _trained_on(r),
                      _figures_cell(r))
    console.print(table)


def _row_dict(r: ModelVersion) -> dict[str, Any]:
    return {"version": r.version, "state": r.state, "path": r.path,
            "created_at": r.created_at.isoformat() if r.created_at else None,
            "promoted_at": r.promoted_at.isoformat() if r.promoted_at else None,
            "retired_at": r.retired_at.isoformat() if r.retired_at else None,
            "seeds": r.seeds, "stored_labels": r.stored_labels, "extra": r.extra,
            "label_ids": r.label_ids, "figures": r.figures, "note": r.note}


def _lookup(pipeline: Pipeline, version: str) -> tuple[ModelStore, ModelVersion]:
    """The model store, and the registry row of ``version`` (a prefix will do)."""
    store = ModelStore(pipeline.settings)
    with session_scope(pipeline.engine) as session:
        sync_registry(store, session=session)
        try:
            return store, registry.get_version(version, session=session)
        except NotFoundError as exc:
            raise fail(str(exc)) from None


@model_app.command("show")
def model_show(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="A version (or its first characters).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One model: where it is, what it was trained on, the comparison made when trained."""
    with open_pipeline(ctx) as pipeline:
        _store, row = _lookup(pipeline, version)
    if as_json:
        print(json.dumps(_row_dict(row), ensure_ascii=False, indent=2))
        return
    console.print(f"model [bold]{row.version}[/]: {row.state}", highlight=False)
    console.print(f"  saved in {row.path}", highlight=False)
    console.print(f"  created {stamp(row.created_at)}; promoted {stamp(row.promoted_at)}; "
                  f"retired {stamp(row.retired_at)}", highlight=False)
    labels = "" if row.label_ids is None else f" ({len(row.label_ids)} label ids recorded)"
    console.print(f"  trained on {_trained_on(row)}{labels}", highlight=False)
    if row.note:
        console.print(f"  note: {row.note}", highlight=False)
    figures = row.figures or {}
    if figures.get("comparison"):
        cur = figures.get("current") or {}
        console.print(f"  when trained, {figures.get('method')} on {figures.get('items')} "
                      f"labels" + (f", against {cur['version']}" if cur else "") + ":",
                      highlight=False)
        rows = [_comparison_row(d) for d in figures["comparison"]]
        print(comparison_table(rows, current=cur.get("version", "-"), candidate=row.version))
    for note in figures.get("notes", []):
        console.print(f"  [yellow]note:[/] {note}", highlight=False)


def _comparison_row(d: dict[str, Any]) -> LabelComparison:
    from classifiers.comparison import Figures

    def fig(x: dict[str, Any] | None) -> Figures | None:
        return None if x is None else Figures(x.get("precision"), x.get("recall"), x.get("f1"))

    return LabelComparison(d["label"], int(d.get("support", 0)), fig(d.get("current")),
                           fig(d["candidate"]) or Figures(None, None, None))


@model_app.command("promote")
def model_promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="A version (or its first characters).")],
) -> None:
    """Make a candidate (or a retired model) the current model; the old one is retired."""
    with open_pipeline(ctx) as pipeline:
        store, row = _lookup(pipeline, version)
        if row.state == ModelState.CURRENT:
            raise fail(f"model {row.version} is already the current model")
        try:
            store.make_current(row.version)
        except ClassificationError as exc:
            raise fail(str(exc), code=2) from None
        with session_scope(pipeline.engine) as session:
            new, old = registry.promote(row.version, session=session)
    was = f" (was {old.version}, now retired)" if old is not None else ""
    console.print(f"model [bold]{new.version}[/] is the current model{was}. A running daemon "
                  "tags new items with it from its next batch; `python -m monitor reclassify` "
                  "re-tags the items stored before.", highlight=False)


# --------------------------------------------------------------------------- status


def print_model_status(settings: Settings, engine: Engine) -> None:
    """One line for ``status``: the current model, its figures, candidates waiting."""
    now = utcnow()
    with session_scope(engine) as session:
        current = registry.current_version(session=session)
        counts = registry.state_counts(session=session)
    try:
        saved = ModelStore(settings).current()
    except ClassificationError as exc:
        console.print(f"[red]model: unreadable ({exc})[/]", highlight=False)
        return
    waiting = counts.get(ModelState.CANDIDATE, 0)
    tail = (f"; [yellow]{waiting} candidate{'s' if waiting != 1 else ''} waiting[/] "
            "(`model list`)" if waiting else "")
    if saved is None:
        console.print("model: none yet (`python -m monitor train`, or the daemon trains one "
                      "at first use)" + tail, highlight=False)
        return
    if current is None or current.version != saved.version:
        created = _parse_time(saved.created)
        console.print(f"model: {saved.version}, trained {ago(created, now)} (not in the "
                      "model history yet: `model list` records it)" + tail, highlight=False)
        return
    figures = current.figures or {}
    cand = figures.get("candidate")
    k = key_figures(cand) if cand else None
    fig = ("no held-out figures" if k is None else "relevance / countries / domains F1 "
           + " / ".join("-" if v is None else f"{v:.2f}" for v in k.values())
           + f" on {figures.get('items')} {figures.get('method')} labels")
    since = f", current since {ago(current.promoted_at, now)}" if current.promoted_at else ""
    console.print(f"model: {current.version}, trained {ago(current.created_at, now)} on "
                  f"{_trained_on(current)}{since}; {fig}{tail}", highlight=False)
