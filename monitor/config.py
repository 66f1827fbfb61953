"""Settings: one frozen object, every default documented here and nowhere else.

Where settings come from, later ones winning:

1. the defaults below (no file is needed at all);
2. the TOML file given by ``--config PATH`` or ``MONITOR_CONFIG``;
3. the environment: ``MONITOR_DATABASE_URL``, ``MONITOR_DATA_DIR``,
   ``MONITOR_HOME_COUNTRY``, ``MONITOR_USER_AGENT``, ``MONITOR_ALLOW_HOSTS``
   (comma-separated hosts, addresses or networks that may be private).

Only this module reads the environment. Nothing is read at import time: call
:func:`load_settings`.

The file's layout (every key optional)::

    data_dir = "data"                      # where the SQLite file and models live
    database_url = "sqlite:///data/monitor.db"
    home_country = "AZ"                    # ISO 3166-1 alpha-2; left out of partner lists
    include_default_sources = true         # the shipped list in default_sources.toml

    [fetch]    # see FetchSettings
    [schedule] # see ScheduleSettings
    [dedupe]   # see DedupeSettings
    [classifier]  # see ClassifierSettings

    [[sources]]                            # see monitor.types.SourceSpec
    name = "who-euro"
    url = "https://example.org/rss"
    kind = "feed"                          # feed | page | sitemap
    interval = 1800                        # seconds; default schedule.default_interval
    language = "en"                        # a hint; detection decides per item
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from monitor.errors import ConfigError
from monitor.types import SourceSpec

__all__ = [
    "ClassifierSettings",
    "DedupeSettings",
    "FetchSettings",
    "ScheduleSettings",
    "Settings",
    "check_source_spec",
    "default_sources",
    "load_settings",
]

USER_AGENT = (
    "health-coop-monitor/0.1 (news monitoring for international health cooperation; "
    "set fetch.user_agent to add your contact)"
)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How the one HTTP client behaves. Every request, feed or article, obeys these."""

    #: Sent with every request; say who you are and how to reach you.
    user_agent: str = USER_AGENT
    #: Seconds to establish a connection.
    connect_timeout: float = 10.0
    #: Seconds to wait for any single read from the server.
    read_timeout: float = 20.0
    #: Hard deadline in seconds for one whole fetch, redirects and body included.
    total_timeout: float = 60.0
    #: Cap on the decompressed body; a larger one is an error, not a truncation.
    max_body_bytes: int = 10 * 1024 * 1024
    #: Redirect hops followed before giving up.
    max_redirects: int = 5
    #: Requests in flight to one host at once.
    per_host_concurrency: int = 2
    #: Requests in flight overall (threads fetching sources and articles).
    max_concurrency: int = 8
    #: Allow loopback, private, link-local and unspecified addresses everywhere.
    allow_private: bool = False
    #: Hosts, addresses or networks (CIDR) allowed even though they are private,
    #: e.g. ``["127.0.0.1"]`` for a local test server.
    allowed_hosts: tuple[str, ...] = ()
    #: First back-off after a failure, in seconds; doubles with each failure in a row.
    backoff_base: float = 300.0
    #: Longest back-off, in seconds.
    backoff_max: float = 6 * 3600.0
    #: Fetch each new item's article page (else keep only the feed's own content).
    fetch_articles: bool = True


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """When sources are polled and how items are processed."""

    #: Seconds between polls of a source that sets no ``interval``.
    default_interval: float = 1800.0
    #: Random extra delay per poll, as a fraction of the interval (0.1 = up to 10%).
    jitter: float = 0.1
    #: Seconds a late job may still run (APScheduler ``misfire_grace_time``).
    misfire_grace_time: float = 3600.0
    #: Processes extracting article text; 0 means one per CPU core.
    extraction_workers: int = 0
    #: Seconds between sweeps that pick up items left unprocessed (after a crash).
    pending_interval: float = 120.0
    #: Attempts at processing one item before it is left as failed.
    max_item_attempts: int = 3
    #: A source is "silent" when nothing new came for this many times its usual gap.
    silent_factor: float = 3.0


@dataclass(frozen=True, slots=True)
class DedupeSettings:
    """How duplicates are recognised."""

    #: Estimated share of shared word shingles above which two texts are one story.
    near_duplicate_threshold: float = 0.85
    #: Only items stored within this many days are compared for near-duplicates.
    window_days: int = 30
    #: Texts shorter than this many words are never called near-duplicates.
    min_words: int = 30


@dataclass(frozen=True, slots=True)
class ClassifierSettings:
    """The classifier that tags every stored item."""

    #: Tag items as they are stored (else they wait in the queue for ``reclassify``).
    enabled: bool = True
    #: Where the current model lives; empty means ``<data_dir>/model``.
    model_dir: str = ""
    #: The seed documents (``labels.jsonl``); empty means the checkout's ``seeds/``.
    seeds_dir: str = ""
    #: With no model yet, train one on the seeds (and stored labels) at first use.
    auto_train: bool = True
    #: Items tagged per batch.
    batch_size: int = 64


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings of one service instance."""

    #: Directory for the SQLite file, models and other state.
    data_dir: Path = Path("data")
    #: SQLAlchemy URL; empty means ``sqlite:///<data_dir>/monitor.db``.
    database_url: str = ""
    #: The home country (ISO alpha-2), never listed as a partner.
    home_country: str = "AZ"
    #: Add the shipped source list (``monitor/default_sources.toml``).
    include_default_sources: bool = True
    fetch: FetchSettings = field(default_factory=FetchSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    dedupe: DedupeSettings = field(default_factory=DedupeSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    #: Sources declared in the file (the defaults are added unless switched off).
    sources: tuple[SourceSpec, ...] = ()
    #: The file these settings were read from, if any.
    config_path: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'monitor.db'}"

    @property
    def model_dir(self) -> Path:
        return Path(self.classifier.model_dir) if self.classifier.model_dir else (
            self.data_dir / "model")

    @property
    def seeds_dir(self) -> Path:
        if self.classifier.seeds_dir:
            return Path(self.classifier.seeds_dir)
        return Path(__file__).resolve().parents[1] / "seeds"

    def all_sources(self) -> tuple[SourceSpec, ...]:
        """The configured sources plus the defaults, a configured name winning."""
        if not self.include_default_sources:
            return self.sources
        own = {s.name for s in self.sources}
        return self.sources + tuple(s for s in default_sources() if s.name not in own)

    def interval_of(self, spec: SourceSpec) -> float:
        return self.interval_of_value(spec.interval)

    def interval_of_value(self, interval: float | None) -> float:
        """A source's poll interval in seconds: its own, else the default."""
        return interval if interval is not None else self.schedule.default_interval


# --------------------------------------------------------------------------- loading


def load_settings(
    path: Path | str | None = None, *, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the settings: defaults, then the file, then the environment.

    ``env`` defaults to ``os.environ``. Raises :class:`ConfigError` naming the key
    and line of anything wrong.
    """
    if env is None:
        import os

        env = os.environ
    if path is None and env.get("MONITOR_CONFIG"):
        path = env["MONITOR_CONFIG"]
    data: dict[str, Any] = {}
    text = ""
    file_path: Path | None = None
    if path is not None:
        file_path = Path(path)
        try:
            text = file_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file: {exc.strerror}", path=str(path)) from exc
        data = _parse_toml(text, str(file_path))
    settings = _build(Settings, data, "", text, str(file_path) if file_path else None)
    settings = dataclasses.replace(settings, config_path=file_path)
    return _apply_env(settings, env)


@functools.cache
def default_sources() -> tuple[SourceSpec, ...]:
    """The shipped source list, validated like a user's file (read once, on first use)."""
    text = resources.files("monitor").joinpath("default_sources.toml").read_text("utf-8")
    data = _parse_toml(text, "default_sources.toml")
    built: _SourceList = _build(_SourceList, data, "", text, "monitor/default_sources.toml")
    return built.sources


@dataclass(frozen=True, slots=True)
class _SourceList:
    sources: tuple[SourceSpec, ...] = ()


def _parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigError(f"not valid TOML: {exc}", path=where, line=line) from exc


def _apply_env(settings: Settings, env: Mapping[str, str]) -> Settings:
    changes: dict[str, Any] = {}
    if env.get("MONITOR_DATA_DIR"):
        changes["data_dir"] = Path(env["MONITOR_DATA_DIR"])
    if env.get("MONITOR_DATABASE_URL"):
        changes["database_url"] = env["MONITOR_DATABASE_URL"]
    if env.get("MONITOR_HOME_COUNTRY"):
        changes["home_country"] = _country(env["MONITOR_HOME_COUNTRY"], "MONITOR_HOME_COUNTRY")
    fetch_changes: dict[str, Any] = {}
    if env.get("MONITOR_USER_AGENT"):
        fetch_changes["user_agent"] = env["MONITOR_USER_AGENT"]
    if env.get("MONITOR_ALLOW_HOSTS"):
        hosts = tuple(h.strip() for h in env["MONITOR_ALLOW_HOSTS"].split(",") if h.strip())
        fetch_changes["allowed_hosts"] = settings.fetch.allowed_hosts + hosts
    if fetch_changes:
        changes["fetch"] = dataclasses.replace(settings.fetch, **fetch_changes)
    return dataclasses.replace(settings, **changes) if changes else settings


def check_source_spec(spec: SourceSpec) -> None:
    """Apply the config file's rules to a source given another way (the command line)."""
    _check(spec, "source", "", None)


def _country(value: str, key: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise ConfigError("must be an ISO 3166-1 alpha-2 code such as AZ", key=key)
    return value.upper()


# A small schema checker driven by the dataclasses' own annotations, so that the
# defaults and their types are written once.


def _build(cls: type[Any], data: Any, key: str, text: str, path: str | None) -> Any:
    if not isinstance(data, dict):
        raise _error(f"must be a table, not {_tname(data)}", key, text, path)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "config_path"}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = f"{key}.{name}" if key else name
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise _error(f"unknown key (known: {known})", sub, text, path)
        kwargs[name] = _coerce(hints[name], value, sub, text, path)
    try:
        obj = cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise _error(str(exc), key or cls.__name__, text, path) from exc
    _check(obj, key, text, path)
    return obj


def _coerce(tp: Any, value: Any, key: str, text: str, path: str | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, text, path)
    if origin is Literal:
        if value not in args:
            allowed = " | ".join(map(str, args))
            raise _error(f"must be one of {allowed}, not {value!r}", key, text, path)
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise _error(f"must be a list, not {_tname(value)}", key, text, path)
        return tuple(_coerce(args[0], v, f"{key}[{i}]", text, path) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, text, path)  # type: ignore[arg-type]
    if tp is Path:
        if not isinstance(value, str):
            raise _error(f"must be a path string, not {_tname(value)}", key, text, path)
        return Path(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _error(f"must be a number, not {_tname(value)}", key, text, path)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _error(f"must be a whole number, not {_tname(value)}", key, text, path)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _error(f"must be true or false, not {_tname(value)}", key, text, path)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _error(f"must be a string, not {_tname(value)}", key, text, path)
        return value
    raise TypeError(f"config schema has an unsupported type {tp!r}")  # a bug, not bad input


_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")


def _check(obj: Any, key: str, text: str, path: str | None) -> None:
    """Value rules beyond types."""

    def fail(name: str, message: str) -> None:
        raise _error(message, f"{key}.{name}" if key else name, text, path)

    if isinstance(obj, SourceSpec):
        if not _NAME_RE.fullmatch(obj.name):
            fail("name", "must be 1-80 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
        if not re.match(r"https?://[^/\s]+", obj.url):
            fail("url", "must be an absolute http:// or https:// URL")
        if obj.interval is not None and obj.interval < 10:
            fail("interval", "must be at least 10 seconds")
        if obj.link_pattern is not None:
            try:
                re.compile(obj.link_pattern)
            except re.error as exc:
                fail("link_pattern", f"not a valid regular expression: {exc}")
    elif isinstance(obj, Settings):
        _country_checked(obj.home_country, key, text, path)
        names = [s.name for s in obj.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            fail("sources", f"duplicate source names: {', '.join(dupes)}")
    elif isinstance(obj, FetchSettings):
        for name in ("connect_timeout", "read_timeout", "total_timeout", "backoff_base"):
            if getattr(obj, name) <= 0:
                fail(name, "must be greater than 0")
        for name in ("max_body_bytes", "per_host_concurrency", "max_concurrency"):
            if getattr(obj, name) < 1:
                fail(name, "must be at least 1")
        if obj.max_redirects < 0:
            fail("max_redirects", "must be 0 or more")
    elif isinstance(obj, ScheduleSettings):
        if obj.default_interval < 10:
            fail("default_interval", "must be at least 10 seconds")
        if not 0 <= obj.jitter <= 1:
            fail("jitter", "must be between 0 and 1")
        if obj.extraction_workers < 0:
            fail("extraction_workers", "must be 0 (all cores) or more")
    elif isinstance(obj, DedupeSettings) and not 0 < obj.near_duplicate_threshold <= 1:
        fail("near_duplicate_threshold", "must be in (0, 1]")


def _country_checked(value: str, key: str, text: str, path: str | None) -> None:
    if not re.fullmatch(r"[A-Z]{2}", value):
        sub = f"{key}.home_country" if key else "home_country"
        raise _error("must be an upper-case ISO 3166-1 alpha-2 code such as AZ", sub, text, path)


def _tname(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _error(message: str, key: str, text: str, path: str | None) -> ConfigError:
    return ConfigError(message, key=key, line=_locate(text, key), path=path)


def _locate(text: str, key: str) -> int | None:
    """Best-effort line number of a dotted key such as ``sources[2].interval``."""
    if not text or not key:
        return None
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", key)
    lines = text.splitlines()
    start, end = 0, len(lines)
    table: list[str] = []
    for i, part in enumerate(parts):
        if part.startswith("["):
            index = int(part[1:-1])
            header = re.compile(r"\s*\[\[\s*" + re.escape(".".join(table)) + r"\s*\]\]")
            hits = [n for n in range(start, end) if header.match(lines[n])]
            if index < len(hits):
                start = hits[index] + 1
                nxt = [n for n in range(start, end) if re.match(r"\s*\[", lines[n])]
                end = nxt[0] if nxt else end
            continue
        is_last = i == len(parts) - 1
        key_re = re.compile(r"\s*" + re.escape(part) + r"\s*=")
        for n in range(start, end):
            if key_re.match(lines[n]) and _in_root(lines, n, table, start):
                return n + 1
        table.append(part)
        header = re.compile(r"\s*\[{1,2}\s*" + re.escape(".".join(table)) + r"\s*\]{1,2}")
        hits = [n for n in range(start, end) if header.match(lines[n])]
        if hits:
            if is_last:
                return hits[0] + 1
            start = hits[0] + 1
            if not (i + 1 < len(parts) and parts[i + 1].startswith("[")):
                nxt = [n for n in range(start, end) if re.match(r"\s*\[", lines[n])]
                end = nxt[0] if nxt else end
    return None


def _in_root(lines: list[str], n: int, table: list[str], start: int) -> bool:
    """A bare ``key =`` at the top of the file belongs to the root table."""
    if table or start:
        return True
    return not any(re.match(r"\s*\[", line) for line in lines[:n])
