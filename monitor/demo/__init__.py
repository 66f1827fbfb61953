"""The bundled demo: a local copy of news sites to run the whole pipeline offline.

``python -m monitor demo`` serves :class:`DemoSite` on 127.0.0.1 and ingests it.
"""

from __future__ import annotations

from monitor.demo.server import DemoSite

__all__ = ["DemoSite"]
