"""Queries for the model registry: every trained classifier and its history.

Keyword-only ``session=``, as everywhere in ``storage``. At most one version is
``current``; :func:`promote` makes another one current and retires the old one in
the same transaction. Where a model's files live is the caller's business (the
``path`` column only records it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import ModelState, ModelVersion, utcnow

__all__ = [
    "AlreadyCurrentError",
    "current_version",
    "get_version",
    "history",
    "list_versions",
    "promote",
    "register_version",
    "state_counts",
]

MIN_PREFIX = 4


class AlreadyCurrentError(ValueError):
    """Promoting the version that is already current."""


def register_version(
    version: str, *, session: Session, path: str, state: str = ModelState.CANDIDATE,
    created_at: datetime | None = None, seeds: int = 0, stored_labels: int = 0,
    extra: int = 0, label_ids: Sequence[str] | None = None,
    figures: Mapping[str, Any] | None = None, note: str = "",
) -> ModelVersion:
    """Record a trained model. A version already recorded (the same data and code
    trained again) keeps its state; given ``figures`` replace its earlier ones.

    With ``state="current"`` the version that was current is retired.
    """
    if state not in ModelState.ALL:
        raise ValueError(f"unknown model state {state!r}")
    row = session.exec(select(ModelVersion).where(ModelVersion.version == version)).first()
    if row is not None:
        if figures:
            row.figures = dict(figures)
            session.add(row)
            session.flush()
        return row
    now = utcnow()
    row = ModelVersion(
        version=version, created_at=created_at or now, path=path, state=ModelState.CANDIDATE,
        seeds=seeds, stored_labels=stored_labels, extra=extra,
        label_ids=None if label_ids is None else sorted(set(label_ids)),
        figures=dict(figures or {}), note=note,
    )
    session.add(row)
    session.flush()
    if state == ModelState.CURRENT:
        promote(version, session=session, now=now)
    elif state == ModelState.RETIRED:
        row.state, row.retired_at = ModelState.RETIRED, now
        session.flush()
    return row


def get_version(version: str, *, session: Session) -> ModelVersion:
    """A version by its full id or an unambiguous prefix (at least four characters)."""
    row = session.exec(select(ModelVersion).where(ModelVersion.version == version)).first()
    if row is not None:
        return row
    if len(version) >= MIN_PREFIX:
        rows = session.exec(select(ModelVersion).where(
            col(ModelVersion.version).startswith(version, autoescape=True))).all()
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise NotFoundError(f"model version {version!r} is ambiguous: "
                                + ", ".join(sorted(r.version for r in rows)))
    raise NotFoundError(f"no model version {version!r} (see `python -m monitor model list`)")


def list_versions(*, session: Session, limit: int | None = None) -> list[ModelVersion]:
    """Every recorded version, newest first."""
    query = select(ModelVersion).order_by(col(ModelVersion.created_at).desc(),
                                          col(ModelVersion.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def current_version(*, session: Session) -> ModelVersion | None:
    return session.exec(select(ModelVersion).where(
        ModelVersion.state == ModelState.CURRENT)).first()


def promote(version: str, *, session: Session, now: datetime | None = None) -> (
    tuple[ModelVersion, ModelVersion | None]
):
    """Make ``version`` current, retiring the current one: (new, old or None).

    Raises NotFoundError for an unknown version, AlreadyCurrentError when it is
    current already.
    """
    now = now or utcnow()
    row = get_version(version, session=session)
    if row.state == ModelState.CURRENT:
        raise AlreadyCurrentError(f"model {row.version} is already the current model")
    old = current_version(session=session)
    session.execute(
        sa.update(ModelVersion).where(col(ModelVersion.state) == ModelState.CURRENT)
        .values(state=ModelState.RETIRED, retired_at=now)
    )
    row.state, row.promoted_at, row.retired_at = ModelState.CURRENT, now, None
    session.add(row)
    session.flush()
    if old is not None:
        session.refresh(old)
    return row, old


def state_counts(*, session: Session) -> dict[str, int]:
    """How many versions are in each state."""
    rows = session.exec(select(ModelVersion.state, sa.func.count())
                        .group_by(col(ModelVersion.state))).all()
    return {state: int(n) for state, n in rows}


def history(*, session: Session, limit: int | None = None) -> list[dict[str, Any]]:
    """The versions as plain rows, newest first (for pages and reports): version,
    state, times, what each was trained on and its ``figures`` (``figures["key"]``:
    relevance, countries and domains F1 on the labels it was compared on)."""
    return [
        {"version": r.version, "state": r.state, "path": r.path, "created_at": r.created_at,
         "promoted_at": r.promoted_at, "retired_at": r.retired_at, "seeds": r.seeds,
         "stored_labels": r.stored_labels, "extra": r.extra, "figures": r.figures,
         "note": r.note}
        for r in list_versions(session=session, limit=limit)
    ]
