"""Reading settings: TOML, the environment, and a small schema checker.

Only this module reads the environment. Nothing is read at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from monitor.config.settings import (
    AlertRule,
    AlertSettings,
    ChannelSettings,
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
from monitor.errors import ConfigError
from monitor.types import SourceSpec

__all__ = ["check_source_spec", "default_sources", "load_settings"]



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
    mail_changes: dict[str, Any] = {}
    if env.get("MONITOR_SMTP_HOST"):
        mail_changes["host"] = env["MONITOR_SMTP_HOST"]
    if env.get("MONITOR_SMTP_USERNAME"):
        mail_changes["username"] = env["MONITOR_SMTP_USERNAME"]
    if env.get("MONITOR_SMTP_PASSWORD"):
        mail_changes["password"] = env["MONITOR_SMTP_PASSWORD"]
    if mail_changes:
        changes["mail"] = dataclasses.replace(settings.mail, **mail_changes)
    web = _web_env(settings.web, env)
    if web is not settings.web:
        changes["web"] = web
    return dataclasses.replace(settings, **changes) if changes else settings


def _web_env(web: WebSettings, env: Mapping[str, str]) -> WebSettings:
    """``MONITOR_WEB_USERS`` (``name:hash,name:hash``; a name given there replaces the
    file's user of that name) and ``MONITOR_WEB_SECRET_KEY``."""
    changes: dict[str, Any] = {}
    if env.get("MONITOR_WEB_USERS"):
        users = {u.name: u for u in web.users}
        for n, entry in enumerate(env["MONITOR_WEB_USERS"].split(",")):
            if not entry.strip():
                continue
            name, sep, hashed = entry.strip().partition(":")
            if not sep:
                raise ConfigError(f"entry {n + 1} must be name:hash", key="MONITOR_WEB_USERS")
            user = WebUser(name=name.strip(), password_hash=hashed.strip())
            problem = _web_user_problem(user)
            if problem:
                raise ConfigError(f"entry {n + 1}: {problem}", key="MONITOR_WEB_USERS")
            users[user.name] = user
        changes["users"] = tuple(users.values())
    if env.get("MONITOR_WEB_SECRET_KEY"):
        if len(env["MONITOR_WEB_SECRET_KEY"]) < 32:
            raise ConfigError("must be at least 32 characters", key="MONITOR_WEB_SECRET_KEY")
        changes["secret_key"] = env["MONITOR_WEB_SECRET_KEY"]
    return dataclasses.replace(web, **changes) if changes else web


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
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _NOT_IN_FILES}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = f"{key}.{name}" if key else name
        if name == "password" and cls is MailSettings:
            raise _error("not allowed in a file: set MONITOR_SMTP_PASSWORD", sub, text, path)
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
_NOT_IN_FILES = {"config_path", "password"}  # the password comes from the environment only
_EMAIL_RE = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+|[^@\s<>,;\"]+@localhost")
_TIME_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_USER_RE = re.compile(r"[^\s:,]{1,100}")
_B64 = r"[A-Za-z0-9+/]+={0,2}"
_SCRYPT_RE = re.compile(rf"scrypt\$\d{{1,10}}\$\d{{1,3}}\$\d{{1,3}}\${_B64}\${_B64}")


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
    elif isinstance(obj, MailSettings | ChannelSettings | AlertSettings | ItemFilter):
        _check_notify(obj, fail)
    elif isinstance(obj, WebSettings | WebUser):
        _check_web(obj, fail)
    if isinstance(obj, Settings):
        _check_references(obj, fail)


def _check_notify(obj: Any, fail: Any) -> None:
    """Rules for the mail server, channels, alert rules and digests."""
    if isinstance(obj, MailSettings):
        if not 0 < obj.port < 65536:
            fail("port", "must be a TCP port, 1-65535")
        if obj.timeout <= 0:
            fail("timeout", "must be greater than 0")
        if not _EMAIL_RE.fullmatch(obj.sender):
            fail("sender", f"not an email address: {obj.sender!r}")
    elif isinstance(obj, ChannelSettings):
        if not _NAME_RE.fullmatch(obj.name):
            fail("name", "must be 1-80 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
        if obj.kind == "email":
            if not obj.to:
                fail("to", "an email channel needs at least one recipient")
            _check_addresses(obj.to, "to", fail)
        elif not re.fullmatch(r"https?://[^/\s]+\S*", obj.url):
            fail("url", "a webhook channel needs an absolute http:// or https:// URL")
    elif isinstance(obj, AlertSettings):
        if obj.interval < 10:
            fail("interval", "must be at least 10 seconds")
        if obj.retry_base <= 0 or obj.retry_max < obj.retry_base:
            fail("retry_max", "retry_base must be > 0 and retry_max at least retry_base")
        for name in ("lookback", "source_failing_after", "source_silent_after"):
            if getattr(obj, name) < 0:
                fail(name, "must be 0 or more")
        names = [r.name for r in obj.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            fail("rules", f"duplicate rule names: {', '.join(dupes)}")
    elif isinstance(obj, ItemFilter):
        _check_filter(obj, fail)


def _check_filter(obj: ItemFilter, fail: Any) -> None:
    if isinstance(obj, AlertRule | DigestSettings):
        if not _NAME_RE.fullmatch(obj.name):
            fail("name", "must be 1-80 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
        if obj.name.startswith("builtin"):
            fail("name", "names starting with 'builtin' are reserved for the built-in alerts")
    for code in obj.countries:
        if not re.fullmatch(r"[A-Z]{2}", code):
            fail("countries", f"{code!r} is not an upper-case ISO 3166-1 alpha-2 code")
    if obj.domains:
        from classifiers.taxonomy import load_taxonomy

        known = set(load_taxonomy().ids())
        for domain in obj.domains:
            if domain not in known:
                fail("domains", f"unknown domain {domain!r} (known: {', '.join(sorted(known))})")
    if obj.min_relevance is not None and not 0 <= obj.min_relevance <= 1:
        fail("min_relevance", "must be between 0 and 1")
    for name in ("keywords_any", "keywords_all", "keywords_none"):
        if any(not k.strip() for k in getattr(obj, name)):
            fail(name, "keywords must not be empty")
    if isinstance(obj, DigestSettings):
        if not _TIME_RE.fullmatch(obj.time):
            fail("time", f"must be a time of day as HH:MM (24-hour), not {obj.time!r}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(obj.timezone)
        except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
            fail("timezone", f"unknown time zone {obj.timezone!r} (an IANA name: Asia/Baku)")
        if not obj.to:
            fail("to", "a digest needs at least one recipient")
        _check_addresses(obj.to, "to", fail)
        if obj.max_items < 1 or obj.first_hours <= 0:
            fail("max_items", "max_items and first_hours must be greater than 0")


def _web_user_problem(user: WebUser) -> str:
    if not _USER_RE.fullmatch(user.name):
        return "a user name is 1-100 characters with no spaces, ':' or ','"
    if not _SCRYPT_RE.fullmatch(user.password_hash):
        return (f"user {user.name!r}: password_hash must be scrypt$N$r$p$salt$hash as "
                "`python -m monitor serve --hash-password` prints it")
    return ""


def _check_web(obj: WebSettings | WebUser, fail: Any) -> None:
    """Rules for the web page and its users."""
    if isinstance(obj, WebUser):
        problem = _web_user_problem(obj)
        if problem:
            fail("password_hash" if "password_hash" in problem else "name", problem)
        return
    if not obj.host.strip() or any(c.isspace() for c in obj.host):
        fail("host", "must be an address or host name such as 127.0.0.1")
    if not 0 < obj.port < 65536:
        fail("port", "must be a TCP port, 1-65535")
    if obj.secret_key and len(obj.secret_key) < 32:
        fail("secret_key", "must be at least 32 characters (or empty: made and kept in "
             "data_dir)")
    if obj.session_hours <= 0:
        fail("session_hours", "must be greater than 0")
    names = [u.name for u in obj.users]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        fail("users", f"duplicate user names: {', '.join(dupes)}")


def _check_addresses(addresses: tuple[str, ...], name: str, fail: Any) -> None:
    for address in addresses:
        if not _EMAIL_RE.fullmatch(address):
            fail(name, f"not an email address: {address!r}")


def _check_references(obj: Settings, fail: Any) -> None:
    """Names that must refer to something defined elsewhere in the file."""
    channels = [c.name for c in obj.channels]
    dupes = sorted({n for n in channels if channels.count(n) > 1})
    if dupes:
        fail("channels", f"duplicate channel names: {', '.join(dupes)}")
    for i, rule in enumerate(obj.alerts.rules):
        if not rule.channels:
            fail(f"alerts.rules[{i}].channels", "a rule needs at least one channel")
        for name in rule.channels:
            if name not in channels:
                fail(f"alerts.rules[{i}].channels", f"no channel named {name!r} in [[channels]]")
    for name in obj.alerts.builtin_channels or ():
        if name not in channels:
            fail("alerts.builtin_channels", f"no channel named {name!r} in [[channels]]")
    digests = [d.name for d in obj.digests]
    dupes = sorted({n for n in digests if digests.count(n) > 1})
    if dupes:
        fail("digests", f"duplicate digest names: {', '.join(dupes)}")


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
