"""Settings and a served site for pipeline tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from monitor.config import ClassifierSettings, FetchSettings, Settings
from monitor.types import SourceSpec
from tests.loopback import LoopbackServer, Request, Response
from tests.sitegen import article_page, article_text, feed_items, rss_feed


def make_settings(tmp_path: Path, sources: list[SourceSpec], *, database_url: str = "",
                  classify: bool = False, **fetch: object) -> Settings:
    options: dict[str, object] = {
        "allowed_hosts": ("127.0.0.1",), "connect_timeout": 2.0, "read_timeout": 3.0,
        "total_timeout": 5.0, "backoff_base": 60.0, **fetch,
    }
    fetch_settings = dataclasses.replace(FetchSettings(), **options)  # type: ignore[arg-type]
    return Settings(data_dir=tmp_path, database_url=database_url,
                    include_default_sources=False, sources=tuple(sources),
                    fetch=fetch_settings, classifier=ClassifierSettings(enabled=classify))


def serve_feed(server: LoopbackServer, feed_no: int, count: int, *, path: str | None = None,
               etag: str | None = None) -> tuple[str, list[str]]:
    """Serve an RSS feed of ``count`` items and their article pages; return (feed URL, links)."""
    items = feed_items(server.url(""), feed_no, count)
    for i, (_g, link, title, published) in enumerate(items):
        page = article_page(title, article_text(feed_no * 1000 + i), published=published)
        server.route(link.removeprefix(server.url("")), page,
                     headers={"Content-Type": "text/html; charset=utf-8"})
    path = path or f"/feeds/{feed_no}.xml"
    headers = {"Content-Type": "application/rss+xml"}
    body = rss_feed(f"Feed {feed_no}", items).encode()
    if etag:
        headers["ETag"] = etag

    def handler(req: Request) -> Response:
        if etag and req.headers.get("if-none-match") == etag:
            return Response(304, {"ETag": etag})
        return Response(200, headers, body)

    server.route(path, handler=handler)
    return server.url(path), [link for _g, link, _t, _p in items]
