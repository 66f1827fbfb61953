"""The labeling web page (``python -m monitor serve``): the queue one item at a time
with the model's suggestions, browsing stored items, the model and its labels.

See :mod:`monitor.web.app` for how it is built and :mod:`monitor.web.auth` for
logins, CSRF tokens and redirects.
"""

from __future__ import annotations

from monitor.web.app import create_app, default_annotator, login_required
from monitor.web.auth import hash_password, is_loopback

__all__ = ["create_app", "default_annotator", "hash_password", "is_loopback", "login_required"]
