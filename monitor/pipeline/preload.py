"""Imported by the fork server of the extraction processes, and only there.

:class:`~monitor.pipeline.base.PipelineBase` starts its extraction workers with the
``forkserver`` start method and this module as the server's preload: the server, a
fresh single-threaded interpreter, imports :mod:`monitor.pipeline.analysis` and
trafilatura, analyses one sample page (which loads the language model and the
libraries' lazily built tables) and freezes the garbage collector's view of all
that, so the workers forked from it share those pages copy-on-write instead of each
loading its own copy. Importing this module anywhere else would only cost time.
"""

from __future__ import annotations

import contextlib
import gc

from monitor.pipeline.analysis import warm_up

with contextlib.suppress(Exception):  # an optimisation: workers would load it all anyway
    warm_up()
gc.freeze()  # collections in the workers leave the shared objects (and their pages) alone
