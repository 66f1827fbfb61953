"""Daily digests: when one is due, and what it says. Pure: no I/O.

A digest is due once per local calendar day, at ``time`` in ``timezone``. Each day
has exactly one scheduled instant, also across daylight-saving changes: a time that
does not exist that day (clocks jump forward over it) is taken as the same wall time
before the jump, i.e. an hour later in real time; a time that occurs twice (clocks
go back) is taken at its first occurrence. :func:`due_period` gives the latest day
whose instant has passed; the outbox records one digest per (name, day), so a
service that was down sends the missed digest once when it is back, and never two.

The content: relevant items since the last digest, grouped by partner country,
then by domain, each with title, source, date, language, a lead and the link;
near-duplicates appear once with their other sources named. The heading gives the
counts and the countries and domains that are new or rising against the fourteen
days before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.alerts import Message, entry_of
from monitor.config import DigestSettings
from monitor.rendering import Names, render_html, render_text
from storage.notifications import ItemSummary

__all__ = [
    "TREND_DAYS",
    "DigestContent",
    "Trends",
    "build_digest",
    "due_period",
    "render_digest",
    "scheduled_instant",
]

#: The window that "new" and "rising" compare against.
TREND_DAYS = 14


def scheduled_instant(day: date, at: str, timezone: str) -> datetime:
    """The UTC instant of ``at`` (``HH:MM``) on local ``day`` in ``timezone``."""
    hour, minute = (int(p) for p in at.split(":"))
    local = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(timezone))
    # fold=0: a skipped wall time maps to the offset before the jump, an ambiguous
    # one to its first occurrence; either way, one instant per local day.
    return local.astimezone(UTC)


def due_period(now: datetime, at: str, timezone: str) -> tuple[date, datetime]:
    """The latest local day whose scheduled instant is at or before ``now``, and that
    instant (UTC)."""
    day = now.astimezone(ZoneInfo(timezone)).date()
    for back in range(3):
        candidate = day - timedelta(days=back)
        instant = scheduled_instant(candidate, at, timezone)
        if instant <= now:
            return candidate, instant
    raise AssertionError("unreachable: a scheduled instant lies within two days")


def next_instant(now: datetime, at: str, timezone: str) -> datetime:
    """The first scheduled instant after ``now`` (for ``status``)."""
    day, _ = due_period(now, at, timezone)
    for ahead in range(1, 4):
        instant = scheduled_instant(day + timedelta(days=ahead), at, timezone)
        if instant > now:
            return instant
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- content


@dataclass(frozen=True, slots=True)
class Trends:
    """Counts of the previous :data:`TREND_DAYS` days, to call things new or rising."""

    countries: Counter[str]
    domains: Counter[str]
    days: float = TREND_DAYS

    def label(self, now_count: int, key: str, which: str, period_days: float) -> str:
        before = (self.countries if which == "country" else self.domains).get(key, 0)
        if before == 0:
            return "new"
        expected = before * period_days / self.days
        if now_count >= 2 and now_count >= 2 * expected:
            return "rising"
        return ""


@dataclass(frozen=True, slots=True)
class _DomainGroup:
    id: str
    name: str
    entries: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class _CountryGroup:
    code: str
    name: str
    count: int
    is_new: bool
    is_rising: bool
    domains: tuple[_DomainGroup, ...]


@dataclass(frozen=True, slots=True)
class DigestContent:
    """A digest ready to render; ``items`` are the ones it counts."""

    name: str
    title: str
    period_label: str
    headline: str
    trend_lines: tuple[str, ...]
    groups: tuple[_CountryGroup, ...]
    items: tuple[ItemSummary, ...]
    omitted: int
    subject: str


def build_digest(settings: DigestSettings, items: Sequence[ItemSummary], *, day: date,
                 start: datetime, end: datetime, trends: Trends, names: Names,
                 ) -> DigestContent:
    """Group ``items`` (already filtered) by country, then domain; name the trends."""
    items = sorted(items, key=lambda i: (i.published_at or i.created_at or end, i.id),
                   reverse=True)
    listed = items[: settings.max_items]
    period_days = max((end - start).total_seconds() / 86400, 1 / 24)
    countries = Counter(c for i in items for c in set(i.countries))
    domains = Counter(d for i in items for d in set(i.domains))
    groups = _groups(listed, names, countries, trends, period_days)

    def marked(counts: Counter[str], which: str, label: str) -> list[str]:
        chosen = [k for k in counts if trends.label(counts[k], k, which, period_days) == label]
        return sorted(chosen, key=names.country if which == "country" else names.domain)

    new_c, rising_c = marked(countries, "country", "new"), marked(countries, "country", "rising")
    new_d, rising_d = marked(domains, "domain", "new"), marked(domains, "domain", "rising")
    n = len(items)
    headline = (f"{n} item{'s' if n != 1 else ''} · {len(countries)} "
                f"countr{'ies' if len(countries) != 1 else 'y'} · {len(domains)} "
                f"domain{'s' if len(domains) != 1 else ''}") if n else "Nothing new"
    trend_lines = []
    if new_c or new_d:
        parts = [names.country(c) for c in new_c] + [names.domain(d) for d in new_d]
        trend_lines.append(f"New against the previous {TREND_DAYS} days: {', '.join(parts)}")
    if rising_c or rising_d:
        parts = [names.country(c) for c in rising_c] + [names.domain(d) for d in rising_d]
        trend_lines.append(f"Rising: {', '.join(parts)}")
    period_label = f"{day:%A %d %B %Y}"
    subject = f"{settings.title} — {day:%d %b %Y}: " + (
        f"{n} item{'s' if n != 1 else ''}, {len(countries)} "
        f"countr{'ies' if len(countries) != 1 else 'y'}" if n else "nothing new")
    return DigestContent(
        name=settings.name, title=settings.title, period_label=period_label,
        headline=headline, trend_lines=tuple(trend_lines), groups=groups,
        items=tuple(items), omitted=n - len(listed), subject=subject,
    )


def _groups(items: Sequence[ItemSummary], names: Names, counts: Counter[str],
            trends: Trends, period_days: float) -> tuple[_CountryGroup, ...]:
    by_country: dict[str, list[ItemSummary]] = {}
    for item in items:
        for code in (item.countries or ("",)):
            by_country.setdefault(code, []).append(item)
    groups = []
    for code, members in by_country.items():
        by_domain: dict[str, list[object]] = {}
        for item in members:
            key = item.domains[0] if item.domains else ""
            by_domain.setdefault(key, []).append(entry_of(item, names))
        subs = tuple(
            _DomainGroup(d, names.domain(d) if d else "Other", tuple(entries))
            for d, entries in sorted(by_domain.items(),
                                     key=lambda kv: (-len(kv[1]), kv[0] == "", kv[0]))
        )
        label = trends.label(counts[code], code, "country", period_days) if code else ""
        groups.append(_CountryGroup(code, names.country(code), len(members), label == "new",
                                    label == "rising", subs))
    groups.sort(key=lambda g: (g.code == "", -g.count, g.name))
    return tuple(groups)


def render_digest(content: DigestContent, *, now: datetime) -> Message:
    context = {
        "subject": content.subject, "title": content.title,
        "period_label": content.period_label, "headline": content.headline,
        "trend_lines": content.trend_lines, "groups": content.groups,
        "omitted": content.omitted,
        "footer": (f"Digest '{content.name}', made {now:%Y-%m-%d %H:%M} UTC by the health "
                   "cooperation monitor. Titles and leads are quoted from the sources."),
    }
    return Message(subject=content.subject, text=render_text("digest.txt", context),
                   html=render_html("digest.html", context))
