"""ASGI middleware of the web page: security headers, the Host check, the login wall.

* :class:`SecurityHeaders` adds to every response a Content-Security-Policy that
  allows scripts, styles and images from this site only (no inline script or style,
  no frames, forms posting only here), ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options: nosniff`` and
  ``Cache-Control: no-store`` on pages. When the page is bound to loopback it also
  refuses requests whose ``Host`` is not a loopback name, so that a web site cannot
  reach it by pointing its own name at 127.0.0.1 (DNS rebinding).
* :class:`LoginRequired` sends every request without a valid login to the login page
  (a GET) or answers 403 (anything else); it sits inside the session middleware.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from urllib.parse import quote

from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "LOOPBACK_NAMES", "LoginRequired", "SecurityHeaders", "host_of"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
#: Paths reachable without a login.
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = frozenset({"/login"})


def host_of(header: str) -> str:
    """The host name of a ``Host`` header, without port or IPv6 brackets, lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


class SecurityHeaders:
    """Security headers on every response; with ``allowed_hosts``, a Host check."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Collection[str] | None = None) -> None:
        self.app = app
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts) if allowed_hosts \
            else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in present]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-cache" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        if self.allowed_hosts is not None:
            host = host_of(_header(scope, b"host"))
            if host not in self.allowed_hosts:
                response: Response = PlainTextResponse(
                    "This page answers only to the address it is bound to.", status_code=421)
                await response(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)


class LoginRequired:
    """Only logged-in users (still configured, within ``max_age`` seconds of logging
    in) get past; the login page and static files are open."""

    def __init__(self, app: ASGIApp, *, users: Collection[str], max_age: float) -> None:
        self.app = app
        self.users = users
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (scope["type"] != "http" or path in PUBLIC_PATHS
                or path.startswith(PUBLIC_PREFIXES)):
            await self.app(scope, receive, send)
            return
        session = scope["session"]
        user = session.get("user")
        login_at = session.get("login_at")
        if (isinstance(user, str) and user in self.users and isinstance(login_at, int | float)
                and 0 <= time.time() - login_at < self.max_age):
            await self.app(scope, receive, send)
            return
        session.pop("user", None)
        session.pop("login_at", None)
        response: Response
        if scope.get("method") in ("GET", "HEAD"):
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}",
                                        status_code=303)
        else:
            response = PlainTextResponse("Log in first.", status_code=403)
        await response(scope, receive, send)
