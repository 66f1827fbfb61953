"""The network layer under httpx: guarded backend, deadline stream, transport, decoder.

:class:`_GuardedBackend` resolves a host once, checks every address and connects only to
one of those addresses; :class:`_DeadlineStream` ends every socket wait at the deadline of
the fetch running in this thread (``_DEADLINE``); :class:`_Decoder` decodes gzip/deflate
while it streams without ever producing more than the body cap.
"""
from __future__ import annotations

import contextvars
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from monitor.config import FetchSettings
from monitor.errors import ResponseTooLargeError, TransportError
from monitor.fetching.addresses import _checked_addresses

# The deadline (time.monotonic()) of the fetch running in this thread, if any.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "monitor_fetch_deadline", default=None
)


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
