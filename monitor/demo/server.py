"""A local web server for the bundled demo site (``python -m monitor demo``).

The site (``monitor/demo/site``) imitates news agencies, a health ministry and an
embassy: feeds in RSS 2.0 and Atom, one in windows-1251, a malformed feed, an HTML
page where a feed should be, a news listing page without a feed, a news sitemap.
Its stories are fictional.

:class:`DemoSite` serves it on ``127.0.0.1`` (a free port, a daemon thread) with the
standard library only:

- files only from inside the site folder; a path that resolves outside it, a hidden
  or ``_``-prefixed file, or a missing file is a 404;
- ``{{BASE}}`` in text files is replaced by :attr:`DemoSite.base_url`, so feeds and
  listing pages can carry absolute links;
- content types by extension, and by the root element for ``.xml`` files (RSS, Atom,
  sitemap, or an HTML page); the charset from the file's own XML or HTML declaration;
- ``ETag`` and ``Last-Modified`` on every file, ``304 Not Modified`` for a matching
  ``If-None-Match`` (or, without one, an ``If-Modified-Since`` not older than the file);
- the redirects listed in the site's ``_redirects`` file (``FROM TO STATUS`` a line).

Nothing starts at import time.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import cast
from urllib.parse import unquote, urlsplit

from monitor.types import SourceKind, SourceSpec

__all__ = ["DEMO_INTERVAL", "DemoSite"]

#: Poll interval (seconds) of every demo source.
DEMO_INTERVAL = 60.0
#: Replaced by the server's base URL in every text file it serves.
BASE_PLACEHOLDER = b"{{BASE}}"

_TEXT_EXTENSIONS = frozenset(
    {".html", ".htm", ".xml", ".rss", ".atom", ".json", ".txt", ".css", ".js", ".svg"}
)
_EXTENSION_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
    ".txt": "text/plain",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
_ROOT_ELEMENT_TYPES = {
    b"rss": "application/rss+xml",
    b"rdf:rdf": "application/rss+xml",
    b"feed": "application/atom+xml",
    b"urlset": "application/xml",
    b"sitemapindex": "application/xml",
    b"html": "text/html",
}
_ROOT_ELEMENT_RE = re.compile(rb"<(rss|rdf:RDF|feed|urlset|sitemapindex|html)[\s>/]", re.IGNORECASE)
_XML_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_HTML_CHARSET_RE = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.IGNORECASE
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class _DemoSource:
    name: str
    path: str
    kind: SourceKind
    language: str
    note: str
    link_selector: str | None = None


_SOURCES: tuple[_DemoSource, ...] = (
    _DemoSource(
        "demo-caspian-en",
        "/old-feed.xml",
        "feed",
        "en",
        "English RSS 2.0 of a news agency, reached through a 301 redirect; one item's page "
        "is missing, so its text comes from the feed",
    ),
    _DemoSource("demo-caspian-az", "/feeds/az.xml", "feed", "az", "Azerbaijani Atom feed"),
    _DemoSource(
        "demo-silkroad-wire",
        "/feeds/wire.xml",
        "feed",
        "en",
        "a second agency: a near-duplicate reprint and a story already seen, with utm_ parameters",
    ),
    _DemoSource("demo-vestnik-ru", "/feeds/ru.xml", "feed", "ru", "Russian RSS (UTF-8)"),
    _DemoSource(
        "demo-region-ru-cp1251",
        "/feeds/ru-region.xml",
        "feed",
        "ru",
        "Russian RSS and article pages served in windows-1251",
    ),
    _DemoSource(
        "demo-kafkas-tr",
        "/feeds/tr.xml",
        "feed",
        "tr",
        "Turkish RSS that is not well-formed XML (parsed leniently, with a warning)",
    ),
    _DemoSource(
        "demo-health-portal",
        "/feeds/portal.xml",
        "feed",
        "en",
        "an HTML maintenance page where the feed should be: this source fails",
    ),
    _DemoSource(
        "demo-ministry-news",
        "/ministry/news/index.html",
        "page",
        "en",
        "a health ministry's news listing page without a feed",
        link_selector="div.news-list h2 a",
    ),
    _DemoSource(
        "demo-embassy-sitemap",
        "/embassy/sitemap-news.xml",
        "sitemap",
        "en",
        "an embassy's news sitemap",
    ),
)


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""


class _Site:
    """What the request handler needs: the folder, the redirects, the base URL."""

    def __init__(self, root: Path, redirects: dict[str, tuple[str, int]]) -> None:
        self.root = root
        self.redirects = redirects
        self.base_url = ""

    def reply(self, raw_path: str, headers: dict[str, str]) -> _Reply:
        path = urlsplit(raw_path).path or "/"
        redirect = self.redirects.get(unquote(path))
        if redirect is not None:
            target, status = redirect
            return self._plain(status, f"Moved to {target}\n", {"Location": self.base_url + target})
        file = self._resolve(path)
        if file is None:
            return self._plain(404, "404 Not Found\n")
        body = file.read_bytes()
        if file.suffix.lower() in _TEXT_EXTENSIONS:
            body = body.replace(BASE_PLACEHOLDER, self.base_url.encode("ascii"))
        mtime = int(file.stat().st_mtime)
        validators = {
            "ETag": '"' + hashlib.sha256(body).hexdigest()[:24] + '"',
            "Last-Modified": formatdate(mtime, usegmt=True),
        }
        if _not_modified(headers, validators["ETag"], mtime):
            return _Reply(304, validators)
        return _Reply(
            200,
            {
                "Content-Type": _content_type(file, body),
                "Cache-Control": "no-cache",
                **validators,
            },
            body,
        )

    def _resolve(self, url_path: str) -> Path | None:
        """The file a URL path names, or ``None`` when it is missing or not allowed."""
        rel = unquote(url_path)
        if "\x00" in rel or "\\" in rel:
            return None
        parts = [p for p in rel.split("/") if p]
        if any(p.startswith((".", "_")) for p in parts):  # also rejects every ".."
            return None
        try:
            target = self.root.joinpath(*parts).resolve()
        except (OSError, ValueError):
            return None
        if not target.is_relative_to(self.root):
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None

    @staticmethod
    def _plain(status: int, text: str, extra: dict[str, str] | None = None) -> _Reply:
        headers = {"Content-Type": "text/plain; charset=utf-8", **(extra or {})}
        return _Reply(status, headers, text.encode("utf-8"))


def _not_modified(headers: dict[str, str], etag: str, mtime: int) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
        return mtime <= since.timestamp()
    return False


def _content_type(file: Path, body: bytes) -> str:
    ext = file.suffix.lower()
    head = body[:4096]
    if ext == ".xml":
        match = _ROOT_ELEMENT_RE.search(head)
        mime = _ROOT_ELEMENT_TYPES[match.group(1).lower()] if match else "application/xml"
    else:
        guessed = mimetypes.guess_type(file.name)[0]
        mime = _EXTENSION_TYPES.get(ext) or guessed or "application/octet-stream"
    if ext not in _TEXT_EXTENSIONS:
        return mime
    return f"{mime}; charset={_charset(head, mime)}"


def _charset(head: bytes, mime: str) -> str:
    declared = _XML_ENCODING_RE.match(head)
    if declared is None and mime == "text/html":
        declared = _HTML_CHARSET_RE.search(head)
    return declared.group(1).decode("ascii").lower() if declared else "utf-8"


def _read_redirects(root: Path) -> dict[str, tuple[str, int]]:
    file = root / "_redirects"
    if not file.is_file():
        return {}
    redirects: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(file.read_text("utf-8").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 3 or not fields[2].isdigit() or int(fields[2]) not in _REDIRECT_STATUSES:
            raise ValueError(f"{file}:{number}: expected 'FROM TO STATUS', got {line!r}")
        redirects[fields[0]] = (fields[1], int(fields[2]))
    return redirects


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: _Site) -> None:
        self.site = site
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "health-coop-monitor-demo/1"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints its own report."""

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        site = cast(_Server, self.server).site
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = site.reply(self.path, headers)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 304:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if send_body and reply.status != 304:
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class DemoSite:
    """The bundled demo site served on 127.0.0.1 while the context is open.

    ::

        with DemoSite() as site:
            specs = site.sources()      # SourceSpecs pointing at site.base_url
    """

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._stack: ExitStack | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> DemoSite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Serve the site on a free port of 127.0.0.1 in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("DemoSite is already running")
        stack = ExitStack()
        try:
            if self._root is not None:
                root = self._root
            else:
                bundled = resources.files("monitor.demo").joinpath("site")
                root = stack.enter_context(resources.as_file(bundled))
            root = Path(root).resolve()
            if not root.is_dir():
                raise FileNotFoundError(f"demo site folder not found: {root}")
            server = _Server(_Site(root, _read_redirects(root)))
        except BaseException:
            stack.close()
            raise
        host, port = server.server_address[:2]
        server.site.base_url = f"http://{host!s}:{port}"
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="demo-site",
            daemon=True,
        )
        thread.start()
        self._stack, self._server, self._thread = stack, server, thread

    def stop(self) -> None:
        """Stop serving and release the port; harmless when not running."""
        server, thread, stack = self._server, self._thread, self._stack
        self._server = self._thread = self._stack = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if stack is not None:
            stack.close()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def root(self) -> Path:
        """The folder being served."""
        return self._running().site.root

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash."""
        return self._running().site.base_url

    def url(self, path: str) -> str:
        """The absolute URL of a site path such as ``/feeds/en.xml``."""
        return self.base_url + "/" + path.lstrip("/")

    def sources(self) -> tuple[SourceSpec, ...]:
        """The demo's sources (names ``demo-*``), pointing at this server."""
        base = self.base_url
        return tuple(
            SourceSpec(
                name=s.name,
                url=base + s.path,
                kind=s.kind,
                interval=DEMO_INTERVAL,
                language=s.language,
                note=f"demo site: {s.note}",
                link_selector=s.link_selector,
            )
            for s in _SOURCES
        )

    def _running(self) -> _Server:
        if self._server is None:
            raise RuntimeError("DemoSite is not running: use it in a with statement")
        return self._server
