"""The pipeline end to end against a real HTTP server on 127.0.0.1 and a real database."""

from __future__ import annotations

import dataclasses
import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from monitor.errors import GoneError, ParseError, RateLimitedError
from monitor.pipeline import Pipeline, spec_to_create
from monitor.types import SourceSpec
from storage import repository as repo
from storage.db import session_scope
from storage.models import Item, ItemSource, ItemStatus, Source, utcnow
from tests.loopback import LoopbackServer, Request, Response
from tests.pipeline_helpers import make_settings, serve_feed
from tests.sitegen import article_page, article_text, rss_feed


def _pipeline(tmp_path: Path, sources: list[SourceSpec], **kw: object) -> Pipeline:
    pipeline = Pipeline(make_settings(tmp_path, sources, **kw), workers=1)  # type: ignore[arg-type]
    pipeline.prepare()
    return pipeline


def _items(pipeline: Pipeline) -> list[Item]:
    with session_scope(pipeline.engine) as session:
        return list(session.exec(select(Item).order_by(Item.id)))  # type: ignore[arg-type]


def test_feed_items_are_stored_with_their_article_text(
    server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    url, links = serve_feed(server, 1, 5, etag='"v1"')
    settings = make_settings(tmp_path, [SourceSpec("news", url)], database_url=db_url)
    with Pipeline(settings, workers=1) as pipeline:
        pipeline.prepare()
        report = pipeline.run_once()
        assert [r.ok for r in report.sources] == [True]
        assert report.sources[0].value is not None
        assert report.sources[0].value.new_items == 5
        items = _items(pipeline)
        assert sorted(i.url for i in items) == sorted(links)
        for item in items:
            assert item.status == ItemStatus.DONE
            assert item.method == "page"
            assert item.language == "en"
            assert item.text and len(item.text.split()) > 200
            assert "All rights reserved" not in item.text  # boilerplate gone
            assert item.published_at is not None and item.published_at.tzinfo is not None

        # second pass: conditional GET, 304, nothing new, nothing twice
        again = pipeline.run_once(all_sources=True)
        value = again.sources[0].value
        assert value is not None and value.not_modified and value.new_items == 0
        assert server.hits("/feeds/1.xml")[-1].headers.get("if-none-match") == '"v1"'
        assert len(_items(pipeline)) == 5


def test_page_that_cannot_be_fetched_falls_back_to_feed_content(
    server: LoopbackServer, tmp_path: Path
) -> None:
    body = " ".join(["Cardiology cooperation between the two ministries was discussed."] * 5)
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><guid>g1</guid><link>{server.url('/missing.html')}</link><title>Visit</title>
    <description><![CDATA[<p>{body}</p>]]></description></item></channel></rss>"""
    server.route("/feed.xml", feed, headers={"Content-Type": "application/rss+xml"})
    pipeline = _pipeline(tmp_path, [SourceSpec("news", server.url("/feed.xml"))])
    report = pipeline.run_once()
    assert [i.method for i in report.items] == ["feed"]
    (item,) = _items(pipeline)
    assert item.status == ItemStatus.DONE and item.method == "feed"
    assert item.text is not None and "Cardiology cooperation" in item.text


def test_same_article_through_two_sources_is_stored_once_and_linked_to_both(
    server: LoopbackServer, tmp_path: Path
) -> None:
    page = article_page("Shared story", article_text(7))
    server.route("/story.html", page, headers={"Content-Type": "text/html"})
    link = server.url("/story.html")
    published = utcnow()
    server.route("/a.xml", rss_feed("A", [("a1", link, "Shared story", published)]))
    server.route("/b.xml", rss_feed("B", [("b1", link + "?utm_source=rss&utm_medium=feed#top",
                                            "Shared story", published)]))
    pipeline = _pipeline(tmp_path, [SourceSpec("a", server.url("/a.xml")),
                                    SourceSpec("b", server.url("/b.xml"))])
    pipeline.run_once()
    items = _items(pipeline)
    assert len(items) == 1
    with session_scope(pipeline.engine) as session:
        names = sorted(s.name for s, _ in repo.item_sources(items[0].id or 0, session=session))
    assert names == ["a", "b"]


def test_near_duplicate_is_linked_to_the_first_copy(
    server: LoopbackServer, tmp_path: Path
) -> None:
    paragraphs = article_text(11, words=400)
    edited = [*paragraphs[:-1], "This sentence was added by the second agency.", paragraphs[-1]]
    server.route("/one.html", article_page("Original headline", paragraphs))
    server.route("/two.html", article_page("A different headline", edited))
    now = utcnow()
    server.route("/a.xml", rss_feed("A", [("1", server.url("/one.html"), "x", now)]))
    server.route("/b.xml", rss_feed("B", [("2", server.url("/two.html"), "y", now)]))
    pipeline = _pipeline(tmp_path, [SourceSpec("a", server.url("/a.xml"))])
    pipeline.run_once()
    with session_scope(pipeline.engine) as session:
        repo.add_source(
            spec_to_create(SourceSpec("b", server.url("/b.xml")), origin="cli"),
            session=session)
    pipeline.run_once()
    first, second = _items(pipeline)
    assert first.status == ItemStatus.DONE
    assert second.status == ItemStatus.DUPLICATE and second.duplicate_of_id == first.id
    with session_scope(pipeline.engine) as session:
        names = sorted(s.name for s, _ in repo.item_sources(first.id or 0, session=session))
    assert names == ["a", "b"]


def _source(pipeline: Pipeline, name: str) -> Source:
    with session_scope(pipeline.engine) as session:
        src = repo.get_source_by_name(name, session=session)
        session.expunge(src)
        return src


def test_permanent_redirect_updates_url_and_temporary_does_not(
    server: LoopbackServer, tmp_path: Path
) -> None:
    url, _ = serve_feed(server, 2, 1, path="/new.xml")
    server.route("/moved.xml", status=301, headers={"Location": "/new.xml"})
    server.route("/temp.xml", status=302, headers={"Location": "/new.xml"})
    pipeline = _pipeline(tmp_path, [SourceSpec("moved", server.url("/moved.xml")),
                                    SourceSpec("temp", server.url("/temp.xml"))])
    report = pipeline.run_once()
    assert all(r.ok for r in report.sources)
    assert _source(pipeline, "moved").url == url
    assert _source(pipeline, "temp").url == server.url("/temp.xml")


def test_one_bad_source_never_stops_the_run_and_failures_are_recorded(
    server: LoopbackServer, tmp_path: Path
) -> None:
    good, _ = serve_feed(server, 3, 2)
    server.route("/gone.xml", status=410)
    server.route("/busy.xml", status=503, headers={"Retry-After": "7200"})
    server.route("/garbage.xml", b"\x00\x01 this is not a feed at all \xff" * 50,
                 headers={"Content-Type": "application/octet-stream"})
    server.route("/error.xml", status=500)
    sources = [SourceSpec("good", good), SourceSpec("gone", server.url("/gone.xml")),
               SourceSpec("busy", server.url("/busy.xml")),
               SourceSpec("garbage", server.url("/garbage.xml")),
               SourceSpec("error", server.url("/error.xml"))]
    pipeline = _pipeline(tmp_path, sources)
    started = utcnow()
    report = pipeline.run_once()
    by_name = {r.source_name: r for r in report.sources}
    assert by_name["good"].ok and by_name["good"].value is not None
    assert by_name["good"].value.new_items == 2
    assert isinstance(by_name["gone"].error, GoneError)
    assert isinstance(by_name["busy"].error, RateLimitedError)
    assert isinstance(by_name["garbage"].error, ParseError)

    gone = _source(pipeline, "gone")
    assert not gone.enabled and gone.disabled_reason and "410" in gone.disabled_reason
    busy = _source(pipeline, "busy")
    assert busy.error_streak == 1 and busy.last_status == 503
    assert busy.next_attempt_at is not None
    assert busy.next_attempt_at >= started + timedelta(seconds=7200)
    error = _source(pipeline, "error")
    assert error.error_streak == 1 and "500" in (error.last_error or "")
    assert error.next_attempt_at is not None
    assert error.next_attempt_at >= started + timedelta(seconds=60)

    # a second pass skips what backs off or is disabled, and the streak grows on retry
    assert {r.source_name for r in pipeline.run_once().sources} == set()
    again = pipeline.run_once(all_sources=True)
    assert "gone" not in {r.source_name for r in again.sources}
    assert _source(pipeline, "error").error_streak == 2


def test_listing_page_and_news_sitemap_sources(server: LoopbackServer, tmp_path: Path) -> None:
    for n in range(3):
        server.route(f"/news/2026/item-{n}.html", article_page(f"Item {n}", article_text(50 + n)))
    listing = "<html><body><nav><a href='/about'>About</a></nav><ul class='news'>" + "".join(
        f"<li><a href='/news/2026/item-{n}.html'>Item {n}</a></li>" for n in range(3)
    ) + "</ul></body></html>"
    server.route("/press", listing, headers={"Content-Type": "text/html"})
    sitemap = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>{server.url('/news/2026/item-0.html')}</loc><news:news>
<news:publication><news:name>X</news:name><news:language>en</news:language></news:publication>
<news:publication_date>2026-11-01T10:00:00+04:00</news:publication_date>
<news:title>Item 0</news:title></news:news></url></urlset>"""
    server.route("/sitemap.xml", sitemap, headers={"Content-Type": "application/xml"})
    pipeline = _pipeline(tmp_path, [
        SourceSpec("press", server.url("/press"), kind="page", link_selector="ul.news a"),
        SourceSpec("map", server.url("/sitemap.xml"), kind="sitemap"),
    ])
    report = pipeline.run_once()
    assert all(r.ok for r in report.sources), report.sources
    items = _items(pipeline)
    assert len(items) == 3  # item 0 reached through both sources, stored once
    assert all(i.status == ItemStatus.DONE for i in items)


def test_item_attempts_are_bounded(server: LoopbackServer, tmp_path: Path) -> None:
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><guid>g</guid><link>{server.url('/down.html')}</link><title>Down</title>
    </item></channel></rss>"""
    server.route("/feed.xml", feed)
    server.route("/down.html", status=500)
    pipeline = _pipeline(tmp_path, [SourceSpec("news", server.url("/feed.xml"))])
    for _ in range(5):
        pipeline.run_once(all_sources=True)
    (item,) = _items(pipeline)
    assert item.status == ItemStatus.FAILED
    assert item.attempts == pipeline.settings.schedule.max_item_attempts
    assert item.last_error and "500" in item.last_error


def test_a_hung_server_cannot_stall_a_pass(server: LoopbackServer, tmp_path: Path) -> None:
    good, _ = serve_feed(server, 4, 1)
    server.route("/hung.xml", handler=lambda _r: Response(200, {}, b"<rss/>", delay=30))
    pipeline = _pipeline(tmp_path, [SourceSpec("good", good),
                                    SourceSpec("hung", server.url("/hung.xml"))],
                         read_timeout=0.5, total_timeout=1.0)
    started = utcnow()
    report = pipeline.run_once()
    assert (utcnow() - started).total_seconds() < 10
    assert {r.source_name: r.ok for r in report.sources} == {"good": True, "hung": False}


def test_guid_links_are_idempotent_across_feed_changes(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """A feed that re-lists old items with new items stores only the new ones."""
    now = utcnow()
    pages = {i: server.url(f"/p{i}.html") for i in range(3)}
    for i in pages:
        server.route(f"/p{i}.html", article_page(f"P{i}", article_text(90 + i)))
    state = {"n": 2}

    def feed(_req: Request) -> Response:
        items = [(f"g{i}", pages[i], f"P{i}", now) for i in range(state["n"])]
        return Response(200, {"Content-Type": "application/rss+xml"},
                        rss_feed("F", items).encode())

    server.route("/feed.xml", handler=feed)
    pipeline = _pipeline(tmp_path, [SourceSpec("news", server.url("/feed.xml"))])
    first = pipeline.run_once(all_sources=True)
    state["n"] = 3
    second = pipeline.run_once(all_sources=True)
    assert first.sources[0].value is not None and second.sources[0].value is not None
    assert first.sources[0].value.new_items == 2
    assert second.sources[0].value.new_items == 1
    assert second.sources[0].value.seen_items == 2
    with session_scope(pipeline.engine) as session:
        links = list(session.exec(select(ItemSource)))
    assert len(links) == 3


@pytest.mark.parametrize("workers", [2])
def test_extraction_in_worker_processes(
    server: LoopbackServer, tmp_path: Path, workers: int
) -> None:
    url, links = serve_feed(server, 5, 6)
    settings = make_settings(tmp_path, [SourceSpec("news", url)])
    settings = dataclasses.replace(settings)
    with Pipeline(settings, workers=workers) as pipeline:
        pipeline.prepare()
        report = pipeline.run_once()
        # extraction ran in one pool of `workers` processes
        assert 1 <= len(multiprocessing.active_children()) <= workers
    assert sorted(i.status for i in report.items) == ["done"] * 6
    assert len(links) == 6


def test_copies_processed_at_the_same_time_are_stored_once(
    server: LoopbackServer, tmp_path: Path
) -> None:
    page = article_page("Same text everywhere", article_text(123))
    now = utcnow()
    entries = []
    for i in range(6):
        server.route(f"/copy{i}.html", page, delay=0.1)
        entries.append((f"c{i}", server.url(f"/copy{i}.html"), f"Copy {i}", now))
    server.route("/copies.xml", rss_feed("C", entries))
    pipeline = _pipeline(tmp_path, [SourceSpec("copies", server.url("/copies.xml"))])
    report = pipeline.run_once()
    statuses = sorted(i.status for i in report.items)
    assert statuses == ["done"] + ["duplicate"] * 5
    items = _items(pipeline)
    (original,) = [i for i in items if i.status == ItemStatus.DONE]
    assert {i.duplicate_of_id for i in items if i.status == ItemStatus.DUPLICATE} == {original.id}


def test_a_stop_request_finishes_work_in_flight_and_leaves_the_rest_pending(
    server: LoopbackServer, tmp_path: Path
) -> None:
    now = utcnow()
    entries = []
    for i in range(30):
        server.route(f"/slow{i}.html", article_page(f"S{i}", article_text(700 + i)), delay=0.2)
        entries.append((f"s{i}", server.url(f"/slow{i}.html"), f"S{i}", now))
    server.route("/slow.xml", rss_feed("S", entries))
    pipeline = _pipeline(tmp_path, [SourceSpec("slow", server.url("/slow.xml"))],
                         max_concurrency=2)
    list(pipeline.update_sources(pipeline.due()))
    results = []
    for result in pipeline.process_items(pipeline.pending()):
        results.append(result)
        pipeline.request_stop()
    statuses = [i.status for i in _items(pipeline)]
    assert 1 <= len(results) < 30
    assert statuses.count(ItemStatus.DONE) == len(results)
    assert statuses.count(ItemStatus.PENDING) == 30 - len(results)


def test_a_dead_extraction_worker_does_not_abort_the_pass(
    server: LoopbackServer, tmp_path: Path
) -> None:
    url, _ = serve_feed(server, 6, 4)
    settings = make_settings(tmp_path, [SourceSpec("news", url)])
    with Pipeline(settings, workers=2) as pipeline:
        pipeline.prepare()
        pool = pipeline._extractor()
        assert pool is not None
        pool.submit(int, 0).result()  # workers started
        for child in multiprocessing.active_children():
            child.kill()  # as the kernel's OOM killer would
            child.join(5)
        report = pipeline.run_once()
    assert sorted(i.status for i in report.items) == ["done"] * 4
