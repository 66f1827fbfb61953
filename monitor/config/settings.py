"""Every setting and its default, documented here and nowhere else.

:mod:`monitor.config.loading` reads the file and the environment over these
defaults (see :mod:`monitor.config`); this module reads nothing.

The file's layout (every key optional)::

    data_dir = "data"                      # where the SQLite file and models live
    database_url = "sqlite:///data/monitor.db"
    home_country = "AZ"                    # ISO 3166-1 alpha-2; left out of partner lists
    include_default_sources = true         # the shipped list in default_sources.toml

    [fetch]    # see FetchSettings
    [schedule] # see ScheduleSettings
    [dedupe]   # see DedupeSettings
    [classifier]  # see ClassifierSettings
    [mail]     # see MailSettings (the SMTP server; credentials from the environment)
    [alerts]   # see AlertSettings
    [web]      # see WebSettings (``python -m monitor serve``)

    [[web.users]]                          # see WebUser; or MONITOR_WEB_USERS
    name = "aysel"
    password_hash = "scrypt$32768$8$1$..."  # from ``python -m monitor serve --hash-password``

    [[channels]]                           # see ChannelSettings
    name = "analysts"
    kind = "email"                         # email | webhook
    to = ["desk@example.org"]

    [[alerts.rules]]                       # see AlertRule
    name = "cardiology-turkey"
    countries = ["TR"]
    domains = ["cardiology"]
    channels = ["analysts"]

    [[digests]]                            # see DigestSettings
    name = "morning"
    time = "07:30"
    timezone = "Asia/Baku"
    to = ["team@example.org"]

    [[sources]]                            # see monitor.types.SourceSpec
    name = "who-euro"
    url = "https://example.org/rss"
    kind = "feed"                          # feed | page | sitemap
    interval = 1800                        # seconds; default schedule.default_interval
    language = "en"                        # a hint; detection decides per item
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from monitor.types import SourceSpec

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
class MailSettings:
    """The SMTP server that alerts and digests are sent through.

    The password comes from the environment only (``MONITOR_SMTP_PASSWORD``); the
    host and user name may also (``MONITOR_SMTP_HOST``, ``MONITOR_SMTP_USERNAME``).
    """

    #: SMTP host; empty means email channels and digests cannot be sent.
    host: str = ""
    #: 587 for STARTTLS, 465 for TLS, 25 for plain relays.
    port: int = 587
    #: ``starttls`` (upgrade, refused if the server cannot), ``tls`` (TLS from the first
    #: byte) or ``none`` (plain text; only for a relay on the same machine).
    security: Literal["starttls", "tls", "none"] = "starttls"
    #: The From address of every message.
    sender: str = "monitor@localhost"
    #: Seconds for connecting and for each command.
    timeout: float = 30.0
    #: A PEM file of extra trusted certificates (a private CA); empty means the system's.
    ca_file: str = ""
    #: Login name (or ``MONITOR_SMTP_USERNAME``); empty means no login.
    username: str = ""
    #: Only from ``MONITOR_SMTP_PASSWORD``; a config file may not hold it.
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Where an alert goes: an email list or a webhook (JSON POST)."""

    #: The name rules use in ``channels``.
    name: str = ""
    kind: Literal["email", "webhook"] = "email"
    #: Email recipients (``kind = "email"``).
    to: tuple[str, ...] = ()
    #: The URL posted to (``kind = "webhook"``); the JSON has a Slack-compatible
    #: ``text`` field. It obeys ``fetch.allow_private`` and ``fetch.allowed_hosts``.
    url: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemFilter:
    """Which items an alert rule or a digest takes. Empty lists do not filter."""

    #: Partner countries (ISO alpha-2); an item matches if it names any of them.
    countries: tuple[str, ...] = ()
    #: Domain ids of the taxonomy; an item matches if it has any of them.
    domains: tuple[str, ...] = ()
    #: Minimum relevance score (0-1); unset means "the model called it relevant".
    min_relevance: float | None = None
    #: Source names; an item matches if any of its sources is listed.
    sources: tuple[str, ...] = ()
    #: Detected languages (ISO 639-1).
    languages: tuple[str, ...] = ()
    #: Keywords, matched case-insensitively at the start of a word in title and text
    #: (so ``cardio`` matches "cardiology"): any of ``keywords_any``, all of
    #: ``keywords_all``, none of ``keywords_none``.
    keywords_any: tuple[str, ...] = ()
    keywords_all: tuple[str, ...] = ()
    keywords_none: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule(ItemFilter):
    """An immediate alert: items matching the filter, sent to the named channels."""

    name: str = ""
    #: Names from ``[[channels]]``.
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Alert rules, the built-in alerts, and how deliveries are retried."""

    #: Seconds between alert runs in the daemon (``run --once`` runs them after a pass).
    interval: float = 300.0
    rules: tuple[AlertRule, ...] = ()
    #: A new rule looks this many seconds back on its first run.
    lookback: float = 86400.0
    #: Built-in: the first relevant item naming a partner country never seen before.
    new_country: bool = True
    #: Built-in: a source failing for longer than this many seconds (0 switches it off).
    source_failing_after: float = 86400.0
    #: Built-in: a source with nothing new for this many seconds (0 switches it off).
    source_silent_after: float = 7 * 86400.0
    #: Channels of the built-in alerts; unset means every configured channel.
    builtin_channels: tuple[str, ...] | None = None
    #: First retry of a failed delivery after this many seconds; doubles each time.
    retry_base: float = 60.0
    #: Longest wait between retries, in seconds (a temporary failure is retried forever).
    retry_max: float = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSettings(ItemFilter):
    """A daily digest email: relevant items since the last one that was sent."""

    name: str = ""
    #: Recipients.
    to: tuple[str, ...] = ()
    #: Local time of day, ``HH:MM``, in ``timezone``.
    time: str = "07:00"
    #: An IANA time zone name such as ``Asia/Baku``.
    timezone: str = "UTC"
    #: On a day with nothing: ``skip`` (send nothing) or ``send`` ("nothing new").
    when_empty: Literal["skip", "send"] = "skip"
    #: The first digest covers this many hours before its scheduled time.
    first_hours: float = 24.0
    #: Heading of the email.
    title: str = "Health cooperation digest"
    #: At most this many items are listed (the counts still cover all).
    max_items: int = 150


@dataclass(frozen=True, slots=True)
class WebUser:
    """One person who may log in to the web page (and labels under this name)."""

    #: Login and annotator name: 1-100 characters, no ``:`` or ``,`` and no spaces.
    name: str = ""
    #: ``scrypt$N$r$p$salt$hash`` (base64) as ``python -m monitor serve --hash-password``
    #: prints it; never the password itself.
    password_hash: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The labeling web page (``python -m monitor serve``).

    Bound to a loopback address it needs no login (unless ``require_login``); bound to
    any other address it refuses to start without ``users``. Users may also come from
    ``MONITOR_WEB_USERS`` (``name:hash,name:hash``), the secret from
    ``MONITOR_WEB_SECRET_KEY``.
    """

    #: Address to bind; anything but loopback (127.0.0.0/8, ::1, localhost) needs a login.
    host: str = "127.0.0.1"
    #: TCP port.
    port: int = 8470
    #: Ask for a login even on a loopback address (a machine shared by several people).
    require_login: bool = False
    #: Who may log in.
    users: tuple[WebUser, ...] = ()
    #: Signs the session cookie (at least 32 characters); empty means a random key made
    #: once and kept in ``<data_dir>/web-secret-key``.
    secret_key: str = field(default="", repr=False)
    #: A login lasts this many hours.
    session_hours: float = 12.0
    #: Send the session cookie over HTTPS only (behind a TLS reverse proxy).
    secure_cookies: bool = False


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
    mail: MailSettings = field(default_factory=MailSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    channels: tuple[ChannelSettings, ...] = ()
    digests: tuple[DigestSettings, ...] = ()
    web: WebSettings = field(default_factory=WebSettings)
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
        return Path(__file__).resolve().parents[2] / "seeds"

    def all_sources(self) -> tuple[SourceSpec, ...]:
        """The configured sources plus the defaults, a configured name winning."""
        from monitor.config.loading import default_sources

        if not self.include_default_sources:
            return self.sources
        own = {s.name for s in self.sources}
        return self.sources + tuple(s for s in default_sources() if s.name not in own)

    def channel(self, name: str) -> ChannelSettings | None:
        return next((c for c in self.channels if c.name == name), None)

    def digest(self, name: str) -> DigestSettings | None:
        return next((d for d in self.digests if d.name == name), None)

    def interval_of(self, spec: SourceSpec) -> float:
        return self.interval_of_value(spec.interval)

    def interval_of_value(self, interval: float | None) -> float:
        """A source's poll interval in seconds: its own, else the default."""
        return interval if interval is not None else self.schedule.default_interval


