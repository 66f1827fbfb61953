"""The units of work, and the one place where stages are composed.

* :meth:`Pipeline.fetch_source` (``sources.py``) takes a source id, fetches and
  parses the source, stores the entries it has not seen and the fetch state; it
  returns a :class:`~monitor.types.SourceOutcome` or raises a
  :class:`~monitor.errors.MonitorError`.
* :meth:`Pipeline.process_item` (``items.py``) takes an item id, fetches the article
  page, extracts the text (:func:`analyse_page`, ``analysis.py``, in a worker
  process), dedupes and stores it.
* :meth:`Pipeline.classify_items` (``tags.py``) tags stored items with the current
  model; with no usable model they stay queued.

Each reads its inputs from the database and writes its results there, so the same
functions can run as tasks of a distributed queue later. Batches
(:meth:`Pipeline.update_sources`, :meth:`Pipeline.run_once`) yield one result per
source, value or error: one bad source never stops a run. ``core.py`` is the facade.

This ``__init__`` imports its names on first use: an extraction worker imports
``monitor.pipeline.analysis`` without the database and HTTP libraries the rest of
the pipeline needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.pipeline.analysis import Analysis, analyse_page
    from monitor.pipeline.core import Pipeline, spec_to_create

__all__ = ["Analysis", "Pipeline", "analyse_page", "spec_to_create"]

_HOMES = {
    "Analysis": "monitor.pipeline.analysis",
    "analyse_page": "monitor.pipeline.analysis",
    "Pipeline": "monitor.pipeline.core",
    "spec_to_create": "monitor.pipeline.core",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
