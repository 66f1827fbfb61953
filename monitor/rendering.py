"""Templates for emails: one Jinja2 environment with autoescaping, and safe helpers.

Everything shown comes from the internet, so: every value is escaped by the
template engine (``autoescape`` is on for every template, ``.txt`` included, which
is why text templates render through :func:`render_text`); a link is printed only
when it is ``http`` or ``https`` (:func:`safe_url`); the HTML has inline styles
only, no ``<style>``, no script, no image, no remote resource.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jinja2
import pycountry

from classifiers.taxonomy import load_taxonomy

__all__ = ["Names", "lead", "render_html", "render_text", "safe_url", "slack_escape"]

_SENTENCE_END = re.compile(r"(?<=[.!?…。])[\"'»”)]*\s+(?=\S)")


def safe_url(url: str | None) -> str:
    """``url`` when it is an absolute http(s) URL without control characters, else ""."""
    if not url:
        return ""
    url = url.strip()
    if any(ord(ch) < 32 or ch in "\x7f\"'<>` " for ch in url):
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return url


def slack_escape(text: str) -> str:
    """Text for Slack's ``mrkdwn``: ``&``, ``<`` and ``>`` escaped, so that a title
    cannot open a link or a mention of its own."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def lead(text: str, *, sentences: int = 3, limit: int = 360) -> str:
    """The first two or three sentences of ``text``, at most about ``limit`` characters."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    parts = _SENTENCE_END.split(flat)
    out = ""
    for count, sentence in enumerate(parts, 1):
        candidate = f"{out} {sentence}".strip()
        if len(candidate) > limit and out and count > 2:
            break
        out = candidate
        if count >= sentences or len(out) >= limit:
            break
    if len(out) > limit:
        out = out[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return out


@dataclass(frozen=True, slots=True)
class Names:
    """Display names of countries (English) and domains (the taxonomy's labels)."""

    domains: Mapping[str, str]

    @classmethod
    def load(cls) -> Names:
        return cls({d.id: d.label for d in load_taxonomy().domains})

    def country(self, code: str) -> str:
        return _country_name(code)

    def domain(self, domain_id: str) -> str:
        return self.domains.get(domain_id, domain_id)


@functools.cache
def _country_name(code: str) -> str:
    if not code:
        return "No partner country named"
    found = pycountry.countries.get(alpha_2=code.upper())
    if found is None:
        return code
    return str(getattr(found, "common_name", None) or found.name)


def _fmt_date(value: datetime | None, fmt: str = "%d %b %Y") -> str:
    return value.strftime(fmt) if value is not None else ""


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor", "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["date"] = _fmt_date
    return env


def render_html(name: str, context: Mapping[str, Any]) -> str:
    return _environment().get_template(name).render(**context)


def render_text(name: str, context: Mapping[str, Any]) -> str:
    """A plain-text template: rendered with escaping, then unescaped once, so that no
    value can produce markup in the HTML part yet the text reads naturally."""
    import html

    rendered = _environment().get_template(name).render(**context)
    return html.unescape(rendered)
