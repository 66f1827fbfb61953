"""The shared :class:`Fetcher`, and the back-off helpers :func:`backoff_delay` and
:func:`parse_retry_after`.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpcore
import httpx

from monitor.config import FetchSettings
from monitor.errors import (
    BlockedAddressError,
    FetchError,
    FetchTimeoutError,
    GoneError,
    HTTPStatusError,
    RateLimitedError,
    ResponseTooLargeError,
    TooManyRedirectsError,
    TransportError,
)
from monitor.fetching.addresses import _Refused
from monitor.fetching.transport import _DEADLINE, _Decoder, _Transport
from monitor.types import FetchResult, Validators

__all__ = ["MAX_RETRY_AFTER", "Fetcher", "backoff_delay", "parse_retry_after"]

#: Longest Retry-After honoured, in seconds (a week).
MAX_RETRY_AFTER = 7 * 24 * 3600.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})

_TIMEOUT_ERRORS = (httpx.TimeoutException, httpcore.TimeoutException)
_TRANSPORT_ERRORS = (
    httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict,
    httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
    httpcore.ProxyError, httpcore.ConnectionNotAvailable, OSError,
)


# --------------------------------------------------------------------------- the fetcher


@dataclass(frozen=True, slots=True)
class _Hop:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    location: httpx.URL | None = None


class Fetcher:
    """Fetches URLs under :class:`FetchSettings`; one instance serves many threads."""

    def __init__(self, settings: FetchSettings) -> None:
        self._settings = settings
        self._client = httpx.Client(
            transport=_Transport(settings),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": settings.user_agent, "Accept": "*/*",
                     "Accept-Encoding": "gzip, deflate"},
        )
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def fetch(
        self, url: str, *, validators: Validators | None = None, accept: str | None = None
    ) -> FetchResult:
        """GET ``url``, following redirects; a 2xx or 304 result, else a FetchError."""
        if self._client.is_closed:
            raise FetchError("the fetcher is closed", url=url)
        started = time.monotonic()
        headers: dict[str, str] = {}
        if accept:
            headers["Accept"] = accept
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        current = _http_url(url, url)
        budget = self._settings.total_timeout
        statuses: list[int] = []
        while True:
            with self._host_slot(current.host):
                hop_started = time.monotonic()
                token = _DEADLINE.set(hop_started + budget)
                try:
                    hop = self._hop(current, headers, hop_started + budget)
                finally:
                    _DEADLINE.reset(token)
                budget -= time.monotonic() - hop_started
            if hop.location is None:
                break
            if len(statuses) >= self._settings.max_redirects:
                limit = self._settings.max_redirects
                raise TooManyRedirectsError(f"more than {limit} redirects", url=url)
            statuses.append(hop.status)
            current = hop.location
        final = str(current)
        permanent = final if statuses and all(s in _PERMANENT for s in statuses) else None
        return FetchResult(
            url=url, final_url=final, status=hop.status, headers=hop.headers,
            content=hop.content, elapsed=time.monotonic() - started,
            permanent_redirect=permanent,
        )

    def post(self, url: str, content: bytes, *,
             content_type: str = "application/json") -> FetchResult:
        """POST ``content`` once, under the same rules as :meth:`fetch`; a 2xx result,
        else a FetchError. Redirects are not followed (a 3xx is an HTTPStatusError):
        a body is never re-sent to another address."""
        if self._client.is_closed:
            raise FetchError("the fetcher is closed", url=url)
        started = time.monotonic()
        current = _http_url(url, url)
        deadline = started + self._settings.total_timeout
        with self._host_slot(current.host):
            token = _DEADLINE.set(deadline)
            try:
                hop = self._hop(current, {"Content-Type": content_type}, deadline,
                                method="POST", content=content)
            finally:
                _DEADLINE.reset(token)
        if hop.location is not None or hop.status == 304:
            raise HTTPStatusError(f"HTTP status {hop.status} (redirects are not followed "
                                  "for a POST)", url=url, status=hop.status)
        return FetchResult(url=url, final_url=url, status=hop.status, headers=hop.headers,
                           content=hop.content, elapsed=time.monotonic() - started,
                           permanent_redirect=None)

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = threading.BoundedSemaphore(self._settings.per_host_concurrency)
                self._slots[host] = slot
        with slot:
            yield

    def _hop(self, url: httpx.URL, headers: dict[str, str], deadline: float, *,
             method: str = "GET", content: bytes | None = None) -> _Hop:
        s = self._settings
        where = str(url)
        timeout = httpx.Timeout(
            connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout,
            pool=max(deadline - time.monotonic(), 0.001),
        )
        try:
            request = self._client.build_request(method, url, headers=headers, timeout=timeout,
                                                 content=content)
            response = self._client.send(request, stream=True)
            try:
                return self._answer(response, where, deadline)
            finally:
                response.close()
        except _Refused as exc:
            raise BlockedAddressError(exc.reason, url=where) from None
        except _TIMEOUT_ERRORS as exc:
            if time.monotonic() >= deadline:
                message = f"total deadline of {s.total_timeout:g} s passed"
            elif isinstance(exc, httpx.ConnectTimeout | httpcore.ConnectTimeout):
                message = f"no connection within {s.connect_timeout:g} s"
            elif isinstance(exc, httpx.PoolTimeout | httpcore.PoolTimeout):
                message = "no free connection before the deadline"
            else:
                message = f"no data for {s.read_timeout:g} s"
            raise FetchTimeoutError(message, url=where) from exc
        except _TRANSPORT_ERRORS as exc:
            detail = str(exc) or type(exc).__name__
            raise TransportError(f"{type(exc).__name__}: {detail}", url=where) from exc

    def _answer(self, response: httpx.Response, url: str, deadline: float) -> _Hop:
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        if status in _REDIRECTS and headers.get("location"):
            try:
                target = response.url.join(headers["location"].strip())
            except httpx.InvalidURL as exc:
                raise FetchError(f"redirect to an invalid URL: {exc}", url=url) from exc
            return _Hop(status, headers, location=_http_url(str(target), url))
        if status == 304:
            return _Hop(status, headers)
        if 200 <= status < 300:
            return _Hop(status, headers, self._read_body(response, headers, url, deadline))
        if status == 410:
            raise GoneError("410 Gone", url=url, status=status)
        if status in (429, 503):
            retry_after = parse_retry_after(headers.get("retry-after"))
            raise RateLimitedError(
                f"rate limited ({status})", url=url, status=status, retry_after=retry_after
            )
        raise HTTPStatusError(f"HTTP status {status}", url=url, status=status)

    def _read_body(
        self, response: httpx.Response, headers: dict[str, str], url: str, deadline: float
    ) -> bytes:
        limit = self._settings.max_body_bytes
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > limit:
            message = f"Content-Length {length} passes the cap of {limit} bytes"
            raise ResponseTooLargeError(message, url=url)
        decoder = _Decoder(headers.get("content-encoding", ""), limit, url)
        parts: list[bytes] = []
        for chunk in response.iter_raw():
            if time.monotonic() > deadline:
                total = self._settings.total_timeout
                raise FetchTimeoutError(f"total deadline of {total:g} s passed", url=url)
            parts.append(decoder.feed(chunk))
        parts.append(decoder.finish())
        return b"".join(parts)


def _http_url(text: str, context: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL {text!r}: {exc}", url=context) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(f"not an absolute http(s) URL: {text!r}", url=context)
    return url


# --------------------------------------------------------------------------- back-off


def backoff_delay(
    error_streak: int, settings: FetchSettings, *, retry_after: float | None = None
) -> float:
    """Seconds to wait after ``error_streak`` failures in a row (0 when there are none).

    ``backoff_base`` doubled per failure after the first, capped at ``backoff_max``; a
    larger ``retry_after`` from the server wins, itself capped at a week.
    """
    delay = 0.0
    if error_streak > 0:
        delay = min(settings.backoff_max, settings.backoff_base * 2.0 ** min(error_streak - 1, 64))
    if retry_after is not None and retry_after == retry_after:  # not NaN
        delay = max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from ``now`` that a Retry-After value (delta-seconds or HTTP-date) asks for.

    ``None`` when absent or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,12}(\.[0-9]+)?", text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
