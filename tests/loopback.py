"""A real HTTP server on 127.0.0.1 for the tests: routes, delays, recorded requests.

Usage::

    server.route("/feed.xml", body=b"<rss>...", headers={"Content-Type": "application/rss+xml"})
    server.route("/slow", body=b"...", delay=5)
    server.route("/dyn", handler=lambda req: Response(200, {"ETag": '"1"'}, b"..."))
    url = server.url("/feed.xml")
    server.requests  # every request received: method, path, headers
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before the status line is sent
    trickle: float = 0.0  # seconds between 1-byte chunks of the body (0: all at once)


Handler = Callable[[Request], Response]


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small answers would wait ~40 ms for delayed ACKs

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                path = self.path
                headers = {k.lower(): v for k, v in self.headers.items()}
                length = int(headers.get("content-length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                req = Request(self.command, path, headers, body)
                with outer._lock:
                    outer.requests.append(req)
                    handler = outer.routes.get(path) or outer.routes.get(path.split("?")[0])
                resp = handler(req) if handler else Response(404, {}, b"not found")
                if resp.delay:
                    time.sleep(resp.delay)
                try:
                    self.send_response(resp.status)
                    headers = dict(resp.headers)
                    if resp.status not in (204, 304):
                        headers.setdefault("Content-Length", str(len(resp.body)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    if self.command == "HEAD" or resp.status in (204, 304):
                        return
                    if resp.trickle:
                        for i in range(len(resp.body)):
                            self.wfile.write(resp.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(resp.trickle)
                    else:
                        self.wfile.write(resp.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _serve
            do_HEAD = _serve
            do_POST = _serve

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                # A client that gives up (a test of timeouts or size caps) resets the
                # connection: expected here, not worth a traceback.
                import sys

                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)  # type: ignore[arg-type]

        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        trickle: float = 0.0,
        handler: Handler | None = None,
    ) -> None:
        if handler is None:
            data = body.encode("utf-8") if isinstance(body, str) else body
            fixed = Response(status, dict(headers or {}), data, delay, trickle)

            def handler(_req: Request) -> Response:
                return fixed

        with self._lock:
            self.routes[path] = handler

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]
