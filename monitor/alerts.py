"""Alert rules: which items match, and the message that says so. Pure: no I/O.

A rule (:class:`~monitor.config.AlertRule`) matches an item when every filter it
sets holds: a partner country in ``countries``, a domain in ``domains``, the
relevance (``min_relevance``, else the model's own verdict), a source in
``sources``, a language in ``languages``, and the keywords (any / all / none),
matched case-insensitively at the start of a word in the title and text.

One message per rule and run lists every item that matched since the last run.
The built-in alerts (a new partner country, a source failing or gone silent) use
the same messages. Delivery is elsewhere (:mod:`monitor.pipeline.notify`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.config import ItemFilter
from monitor.rendering import Names, lead, render_html, render_text, safe_url, slack_escape
from storage.notifications import ItemSummary

__all__ = [
    "BUILTIN_FAILING",
    "BUILTIN_NEW_COUNTRY",
    "BUILTIN_SILENT",
    "Message",
    "SourceProblem",
    "compose_item_alert",
    "compose_source_alert",
    "matches",
]

BUILTIN_NEW_COUNTRY = "builtin-new-country"
BUILTIN_FAILING = "builtin-source-failing"
BUILTIN_SILENT = "builtin-source-silent"


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message: email subject and parts, and the webhook's JSON."""

    subject: str
    text: str
    html: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A source in trouble, for the built-in source alerts."""

    source_id: int
    name: str
    url: str
    problem: str
    error: str = ""


def matches(rule: ItemFilter, item: ItemSummary) -> bool:
    """Whether ``item`` passes every filter ``rule`` sets."""
    if rule.min_relevance is not None:
        if item.relevance < rule.min_relevance:
            return False
    elif not item.relevant:
        return False
    if rule.countries and not set(rule.countries) & set(item.countries):
        return False
    if rule.domains and not set(rule.domains) & set(item.domains):
        return False
    if rule.sources and not set(rule.sources) & (set(item.sources) | set(item.also_sources)):
        return False
    if rule.languages and item.language not in rule.languages:
        return False
    if rule.keywords_any or rule.keywords_all or rule.keywords_none:
        text = f"{item.title}\n{item.text or item.summary}"
        if rule.keywords_any and not any(_has(text, k) for k in rule.keywords_any):
            return False
        if not all(_has(text, k) for k in rule.keywords_all):
            return False
        if any(_has(text, k) for k in rule.keywords_none):
            return False
    return True


def _has(text: str, keyword: str) -> bool:
    return _keyword_re(keyword).search(text) is not None


@functools.lru_cache(maxsize=1024)
def _keyword_re(keyword: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words), re.IGNORECASE)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class _Entry:
    item: ItemSummary
    lead: str
    countries: tuple[str, ...]
    domains: tuple[str, ...]


def entry_of(item: ItemSummary, names: Names) -> _Entry:
    return _Entry(
        item=item, lead=lead(item.text or item.summary),
        countries=tuple(names.country(c) for c in item.countries),
        domains=tuple(names.domain(d) for d in item.domains),
    )


def _footer(now: datetime) -> str:
    return (f"Sent by the health cooperation monitor at {now:%Y-%m-%d %H:%M} UTC. "
            "Texts and titles are quoted from the sources as found.")


def compose_item_alert(rule: str, items: Sequence[ItemSummary], *, names: Names,
                       now: datetime, heading: str | None = None) -> Message:
    """The message of one rule's run: every matching item, newest first."""
    ordered = sorted(items, key=lambda i: (i.published_at or i.created_at or now, i.id),
                     reverse=True)
    entries = [entry_of(i, names) for i in ordered]
    countries = sorted({c for i in ordered for c in i.countries})
    count = len(ordered)
    if heading is None:
        heading = f"{count} new item{'s' if count != 1 else ''}"
        if countries:
            heading += ": " + ", ".join(names.country(c) for c in countries[:5])
            if len(countries) > 5:
                heading += f" and {len(countries) - 5} more"
    subject = f"[monitor] {rule}: {heading}"
    context = {"subject": subject, "rule": rule, "heading": heading, "entries": entries,
               "sources": [], "footer": _footer(now)}
    lines = [f"*{slack_escape(rule)}*: {slack_escape(heading)}"]
    for e in entries:
        link = safe_url(e.item.url)
        title = slack_escape(e.item.title or "(no title)")
        where = slack_escape(", ".join(e.item.sources))
        lines.append(f"• <{link}|{title}> ({where})" if link else f"• {title} ({where})")
    payload = {
        "text": "\n".join(lines),
        "rule": rule,
        "heading": heading,
        "items": [_item_json(i) for i in ordered],
    }
    return Message(subject=subject, text=render_text("alert.txt", context),
                   html=render_html("alert.html", context), payload=payload)


def compose_source_alert(rule: str, problems: Sequence[SourceProblem], *,
                         now: datetime) -> Message:
    """The message of a built-in source alert (failing or silent sources)."""
    what = "failing" if rule == BUILTIN_FAILING else "silent"
    count = len(problems)
    heading = f"{count} source{'s' if count != 1 else ''} {what}: " + ", ".join(
        p.name for p in problems[:5]) + (f" and {count - 5} more" if count > 5 else "")
    subject = f"[monitor] {heading}"
    context = {"subject": subject, "rule": rule, "heading": heading, "entries": [],
               "sources": problems, "footer": _footer(now)}
    lines = [f"*{slack_escape(heading)}*"] + [
        f"• {slack_escape(p.name)}: {slack_escape(p.problem)}" for p in problems]
    payload = {
        "text": "\n".join(lines), "rule": rule, "heading": heading,
        "sources": [{"id": p.source_id, "name": p.name, "url": p.url, "problem": p.problem,
                     "error": p.error} for p in problems],
    }
    return Message(subject=subject, text=render_text("alert.txt", context),
                   html=render_html("alert.html", context), payload=payload)


def _item_json(item: ItemSummary) -> dict[str, Any]:
    when = item.published_at or item.created_at
    return {
        "id": item.id, "title": item.title, "url": safe_url(item.url),
        "sources": list(item.sources), "also_sources": list(item.also_sources),
        "published_at": when.isoformat() if when else None, "language": item.language,
        "relevance": round(item.relevance, 4), "countries": list(item.countries),
        "domains": list(item.domains),
    }
