"""The two units of work, and the one place where stages are composed.

* :meth:`Pipeline.fetch_source` (``sources.py``) takes a source id, fetches and
  parses the source, stores the entries it has not seen and the fetch state; it
  returns a :class:`~monitor.types.SourceOutcome` or raises a
  :class:`~monitor.errors.MonitorError`.
* :meth:`Pipeline.process_item` (``items.py``) takes an item id, fetches the article
  page, extracts the text (in a worker process), dedupes and stores it.
* :meth:`Pipeline.classify_items` (``tags.py``) tags stored items with the current
  model; with no usable model they stay queued.

Each reads its inputs from the database and writes its results there, so the same
functions can run as tasks of a distributed queue later. Batches
(:meth:`Pipeline.update_sources`, :meth:`Pipeline.run_once`) yield one result per
source, value or error: one bad source never stops a run. ``core.py`` is the facade.
"""

from monitor.pipeline.core import Pipeline, spec_to_create
from monitor.pipeline.items import Analysis, analyse_page

__all__ = ["Analysis", "Pipeline", "analyse_page", "spec_to_create"]
