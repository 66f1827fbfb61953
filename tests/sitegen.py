"""Generated news sites for tests and benchmarks: RSS feeds and article pages with
menus, sidebars and footers around distinct article texts (deterministic by seed)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

_VOCABULARY = """
ministry health cooperation delegation hospital memorandum signed cardiology surgeons
training doctors nurses exchange programme vaccine clinic research laboratory patients
treatment centre visit agreement minister met discussed partnership medical university
professor oncology telemedicine equipment donation emergency pediatric rehabilitation
insurance reform digital records conference institute joint project experience leading
specialists regional national international support development quality services care
transplant pharmaceutical production supply registration students scholarship summit
"""
WORDS = tuple(_VOCABULARY.split())


def article_text(seed: int, words: int = 320) -> list[str]:
    """Paragraphs of a distinct article: a seeded shuffle of the vocabulary."""
    rng = random.Random(seed)
    paragraphs = []
    left = words
    while left > 0:
        n = min(left, rng.randint(40, 70))
        sentence_words = [rng.choice(WORDS) for _ in range(n)]
        text = " ".join(sentence_words)
        # sentences of ~12 words
        parts = [" ".join(sentence_words[i:i + 12]).capitalize() + "."
                 for i in range(0, n, 12)]
        paragraphs.append(" ".join(parts) if parts else text)
        left -= n
    return paragraphs


def article_page(title: str, paragraphs: list[str], *, lang: str = "en",
                 published: datetime | None = None) -> str:
    when = (published or datetime(2026, 11, 1, tzinfo=UTC)).strftime("%Y-%m-%d")
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    menu = "".join(f'<li><a href="/section/{w}">{w.title()}</a></li>' for w in WORDS[:8])
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)} | Health News</title>
<meta name="description" content="{escape(paragraphs[0][:150])}">
<meta property="article:published_time" content="{when}">
<meta name="author" content="Press Office"></head>
<body>
<header><nav><ul>{menu}</ul></nav><div class="cookie">We use cookies. Accept all cookies.</div>
</header>
<main><article><h1>{escape(title)}</h1><time datetime="{when}">{when}</time>
{body}
</article>
<aside><h3>Most read</h3><ul><li><a href="/a/1">Weather tomorrow</a></li>
<li><a href="/a/2">Football results of the week</a></li></ul></aside></main>
<footer><p>© 2026 Health News Agency. All rights reserved.</p>
<p><a href="/contact">Contact</a> · <a href="/privacy">Privacy</a></p></footer>
</body></html>"""


def rss_feed(title: str, items: list[tuple[str, str, str, datetime]]) -> str:
    """items: (guid, link, title, published)."""
    entries = "\n".join(
        f"<item><guid>{escape(g)}</guid><link>{escape(link)}</link>"
        f"<title>{escape(t)}</title><description>{escape(t)}: summary.</description>"
        f"<pubDate>{format_datetime(p)}</pubDate></item>"
        for g, link, t, p in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>http://example.org/</link>"
            f"<description>test</description>{entries}</channel></rss>")


def feed_items(base: str, feed_no: int, count: int) -> list[tuple[str, str, str, datetime]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        (f"feed{feed_no}-item{i}", f"{base}/articles/{feed_no}/{i}.html",
         f"Story {feed_no}-{i} on health cooperation", start + timedelta(minutes=i))
        for i in range(count)
    ]
