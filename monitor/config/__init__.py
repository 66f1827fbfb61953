"""Settings: one frozen object; every default is in :mod:`monitor.config.settings`.

Where settings come from, later ones winning:

1. the defaults in :mod:`monitor.config.settings` (no file is needed at all);
2. the TOML file given by ``--config PATH`` or ``MONITOR_CONFIG``;
3. the environment: ``MONITOR_DATABASE_URL``, ``MONITOR_DATA_DIR``,
   ``MONITOR_HOME_COUNTRY``, ``MONITOR_USER_AGENT``, ``MONITOR_ALLOW_HOSTS``
   (comma-separated hosts, addresses or networks that may be private),
   ``MONITOR_SMTP_HOST``, ``MONITOR_SMTP_USERNAME``, ``MONITOR_SMTP_PASSWORD``,
   ``MONITOR_WEB_USERS`` (``name:hash,name:hash``), ``MONITOR_WEB_SECRET_KEY``.

Only :mod:`monitor.config.loading` reads the environment, and nothing is read at
import time: call :func:`load_settings`.
"""

from __future__ import annotations

from monitor.config.loading import check_source_spec, default_sources, load_settings
from monitor.config.settings import (
    AlertRule,
    AlertSettings,
    ChannelSettings,
    ClassifierSettings,
    DedupeSettings,
    DigestSettings,
    FetchSettings,
    ItemFilter,
    MailSettings,
    ScheduleSettings,
    Settings,
    WebSettings,
    WebUser,
)

__all__ = [
    "AlertRule",
    "AlertSettings",
    "ChannelSettings",
    "ClassifierSettings",
    "DedupeSettings",
    "DigestSettings",
    "FetchSettings",
    "ItemFilter",
    "MailSettings",
    "ScheduleSettings",
    "Settings",
    "WebSettings",
    "WebUser",
    "check_source_spec",
    "default_sources",
    "load_settings",
]
