"""The only HTTP code of the project: one shared, thread-safe :class:`Fetcher`.

:meth:`Fetcher.fetch` sends the User-Agent, an optional Accept and the stored validators
(a 304 is a result); follows http(s) redirects by hand, at most ``max_redirects``;
refuses loopback, private, link-local, unspecified, reserved, multicast and other
non-global addresses unless ``allow_private`` or ``allowed_hosts`` allows them; enforces
connect and read timeouts, a hard deadline for the whole fetch (``total_timeout``) and a
cap on the *decompressed* body while it streams; limits requests in flight per host and
overall; and maps every failure to :mod:`monitor.errors` (no httpx exception escapes).

DNS rebinding: there is no separate look-up before the request. The network backend
under httpx resolves the host once, checks every address, and connects to one of those
very addresses (TLS still verifies and sends SNI for the host name). Every new
connection, so every redirect hop to a new origin, is checked before a packet is sent.
``getaddrinfo`` itself cannot be interrupted, so a hanging resolver can overrun the
deadline; no socket operation after it can: each connect, read and write waits at most
until the deadline, so a body trickling in byte by byte is cut off on time although the
read timeout restarts with every byte. Waiting for a free per-host slot does not count
against the deadline (each slot holder is itself bounded by it).
"""
from __future__ import annotations

import contextvars
import functools
import ipaddress
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

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
from monitor.types import FetchResult, Validators

__all__ = ["Fetcher", "backoff_delay", "check_address", "parse_retry_after"]

#: Longest Retry-After honoured, in seconds (a week).
MAX_RETRY_AFTER = 7 * 24 * 3600.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The deadline (time.monotonic()) of the fetch running in this thread, if any.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "monitor_fetch_deadline", default=None
)

_TIMEOUT_ERRORS = (httpx.TimeoutException, httpcore.TimeoutException)
_TRANSPORT_ERRORS = (
    httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict,
    httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
    httpcore.ProxyError, httpcore.ConnectionNotAvailable, OSError,
)


# --------------------------------------------------------------------------- addresses


class _Refused(Exception):  # becomes BlockedAddressError once the URL is known
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def check_address(host: str, settings: FetchSettings) -> None:
    """Resolve ``host`` and raise :class:`BlockedAddressError` if it may not be fetched.

    Raises :class:`TransportError` when the name does not resolve.
    """
    if settings.allow_private:
        return
    try:
        _checked_addresses(host, None, settings)
    except _Refused as exc:
        raise BlockedAddressError(exc.reason, url=host) from None
    except OSError as exc:
        raise TransportError(f"cannot resolve {host}: {exc}", url=host) from exc


def _checked_addresses(host: str, port: int | None, settings: FetchSettings) -> list[str]:
    """The addresses of ``host`` in resolver order; raises ``_Refused`` if any is refused."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if settings.allow_private:
        return addresses
    names, networks = _allowance(settings.allowed_hosts)
    if host.lower().rstrip(".") in names:
        return addresses
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        kind = _refused_kind(address)
        if kind is not None and not any(address in net for net in networks):
            shown = host if host == text else f"{host} ({text})"
            raise _Refused(f"{shown} is a {kind} address and is not allowed")
    return addresses


@functools.lru_cache(maxsize=32)
def _allowance(allowed: tuple[str, ...]) -> tuple[frozenset[str], tuple[_IPNetwork, ...]]:
    names: set[str] = set()
    networks: list[_IPNetwork] = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry.strip().strip("[]"), strict=False))
        except ValueError:
            names.add(entry.strip().lower().rstrip("."))
    return frozenset(names), tuple(networks)


def _refused_kind(address: _IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None and (kind := _refused_kind(embedded)) is not None:
            return kind
    checks = (
        (address.is_loopback, "loopback"), (address.is_private, "private"),
        (address.is_link_local, "link-local"), (address.is_unspecified, "unspecified"),
        (address.is_reserved, "reserved"), (address.is_multicast, "multicast"),
        (not address.is_global, "non-global"),
    )
    return next((kind for hit, kind in checks if hit), None)


# --------------------------------------------------------------------------- transport


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to the current fetch's deadline; ``error`` once it passed."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every wait ends at the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wait = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, and connects only to an address that passed the check."""

    def __init__(self, settings: FetchSettings) -> None:
        self._settings = settings
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None, socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _checked_addresses(host, port, self._settings)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        last: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, _clamp(timeout, httpcore.ConnectTimeout),
                    local_address, socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream)
        raise last


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _Transport(httpx.BaseTransport):
    """httpx over an httpcore pool that uses :class:`_GuardedBackend`.

    httpcore exceptions pass through untranslated; :meth:`Fetcher.fetch` maps them.
    """

    def __init__(self, settings: FetchSettings) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=True),
            max_connections=settings.max_concurrency,
            max_keepalive_connections=settings.max_concurrency,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(settings),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise TypeError("only synchronous request bodies are supported")
        url = httpcore.URL(
            scheme=request.url.raw_scheme, host=request.url.raw_host,
            port=request.url.port, target=request.url.raw_path,
        )
        response = self._pool.handle_request(httpcore.Request(
            method=request.method, url=url, headers=request.headers.raw,
            content=request.stream, extensions=request.extensions,
        ))
        if not isinstance(response.stream, Iterable):
            raise TypeError("httpcore returned an asynchronous body")
        return httpx.Response(
            status_code=response.status, headers=response.headers,
            stream=_Body(response.stream), extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


# --------------------------------------------------------------------------- bodies


class _Decoder:
    """Decodes gzip/deflate piece by piece, never producing more than the cap allows."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",")]
        codings = [c for c in codings if c not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise TransportError(f"unsupported Content-Encoding {encoding!r}", url=url)
        self._coding = codings[0] if codings else None
        self._limit, self._url, self.size = limit, url, 0
        self._raw_deflate = False
        self._z = self._new()

    def _new(self) -> Any:
        if self._coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self._limit:
            message = f"body passed the cap of {self._limit} bytes"
            raise ResponseTooLargeError(message, url=self._url)
        return data

    def feed(self, data: bytes) -> bytes:
        if self._coding is None:
            return self._count(data)
        out = bytearray()
        while data:
            started = self.size == 0 and not self._z.unused_data
            try:
                out += self._count(self._z.decompress(data, self._limit - self.size + 1))
            except zlib.error as exc:
                if self._coding == "deflate" and started and not self._raw_deflate:
                    self._raw_deflate = True  # "deflate" sent without its zlib header
                    self._z = self._new()
                    continue
                raise TransportError(f"corrupt {self._coding} body: {exc}", url=self._url) from exc
            if self._z.eof:
                data = self._z.unused_data
                if data and self._coding != "deflate":
                    self._z = self._new()  # another gzip member follows
                else:
                    break
            else:
                data = self._z.unconsumed_tail
        return bytes(out)

    def finish(self) -> bytes:
        return b"" if self._coding is None else self._count(self._z.flush())


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

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = threading.BoundedSemaphore(self._settings.per_host_concurrency)
                self._slots[host] = slot
        with slot:
            yield

    def _hop(self, url: httpx.URL, headers: dict[str, str], deadline: float) -> _Hop:
        s = self._settings
        where = str(url)
        timeout = httpx.Timeout(
            connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout,
            pool=max(deadline - time.monotonic(), 0.001),
        )
        try:
            request = self._client.build_request("GET", url, headers=headers, timeout=timeout)
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
