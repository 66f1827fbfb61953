"""Every error the ``monitor`` package raises on purpose.

The tree::

    MonitorError
    ├── ConfigError                 a config file or value is wrong (names key and line)
    ├── SourceError                 a source name or definition is unknown or invalid
    ├── FetchError                  a URL could not be fetched (carries ``url``)
    │   ├── BlockedAddressError     the host resolves to a refused address (loopback, private...)
    │   ├── ResponseTooLargeError   the decompressed body passed the size cap
    │   ├── TooManyRedirectsError   the redirect chain passed the cap
    │   ├── FetchTimeoutError       connect, read or total deadline passed
    │   ├── TransportError          connection refused, reset, DNS failure, TLS failure
    │   └── HTTPStatusError         a status that is neither 2xx nor 304 (carries ``status``)
    │       ├── GoneError           410: the source is gone and gets disabled
    │       └── RateLimitedError    429 or 503 (carries ``retry_after`` seconds, if sent)
    ├── ParseError                  bytes that no source parser can read
    ├── ExtractionError             a page that yields no article text
    ├── ClassificationError         no model could be loaded or trained (items stay queued)
    ├── LabelingError               a label or a labels file is not valid (names item, line)
    ├── DeliveryError               an alert or digest could not be delivered (carries ``channel``)
    │   ├── TemporaryDeliveryError  worth retrying: 4xx SMTP reply, webhook 5xx/429, timeout
    │   └── PermanentDeliveryError  not retried blindly: 5xx SMTP reply, webhook 4xx, bad config
    └── DropItem                    a stage decided an item must not be stored (not a failure)

A stage signals failure by raising one of these, never by returning ``None``.
``storage`` and ``classifiers`` have their own error modules; the pipeline maps them.
"""

from __future__ import annotations

__all__ = [
    "BlockedAddressError",
    "ClassificationError",
    "ConfigError",
    "DeliveryError",
    "DropItem",
    "ExtractionError",
    "FetchError",
    "FetchTimeoutError",
    "GoneError",
    "HTTPStatusError",
    "LabelingError",
    "MonitorError",
    "ParseError",
    "PermanentDeliveryError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "SourceError",
    "TemporaryDeliveryError",
    "TooManyRedirectsError",
    "TransportError",
]


class MonitorError(Exception):
    """Base class of every error raised on purpose by ``monitor``."""


class ConfigError(MonitorError):
    """A configuration file or value is invalid.

    ``key`` is the dotted path of the offending key (``sources[2].interval``) and
    ``line`` its line in the file, when known.
    """

    def __init__(
        self, message: str, *, key: str | None = None, line: int | None = None,
        path: str | None = None,
    ) -> None:
        self.key = key
        self.line = line
        self.path = path
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        elif line is not None:
            where = f"line {line}: "
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")


class SourceError(MonitorError):
    """A source name is unknown, or a source definition is invalid."""


class FetchError(MonitorError):
    """A URL could not be fetched."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(f"{message} ({url})")


class BlockedAddressError(FetchError):
    """The host resolves to an address that the configuration does not allow."""


class ResponseTooLargeError(FetchError):
    """The decompressed response body passed ``fetch.max_body_bytes``."""


class TooManyRedirectsError(FetchError):
    """The redirect chain was longer than ``fetch.max_redirects``."""


class FetchTimeoutError(FetchError):
    """The connect, read or total deadline passed."""


class TransportError(FetchError):
    """The connection failed: refused, reset, DNS, TLS, protocol error."""


class HTTPStatusError(FetchError):
    """The server answered with a status that is neither 2xx nor 304."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        self.status = status
        super().__init__(message, url=url)


class GoneError(HTTPStatusError):
    """410 Gone: the source no longer exists and is disabled."""


class RateLimitedError(HTTPStatusError):
    """429 or 503; ``retry_after`` is the server's Retry-After in seconds, if any."""

    def __init__(
        self, message: str, *, url: str, status: int, retry_after: float | None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, url=url, status=status)


class ParseError(MonitorError):
    """The bytes could not be read as a feed, a listing page or a sitemap."""


class ExtractionError(MonitorError):
    """The page yielded no usable article text."""


class ClassificationError(MonitorError):
    """No usable model: it is missing, does not match the code, or failed to train.

    Items are stored unclassified and stay in the classification queue.
    """


class DropItem(MonitorError):
    """Raised by a stage that decides an item must not be stored.

    Not a failure: the pipeline counts the item as dropped, with ``reason``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class LabelingError(MonitorError):
    """A label cannot be stored: unknown item, country or domain, a bad labels file
    (the message names every bad line; nothing is stored partially)."""


class DeliveryError(MonitorError):
    """A message could not be delivered to a channel.

    ``code`` is the SMTP reply or HTTP status when there was one; ``retry_after`` the
    seconds a webhook asked to wait (``Retry-After``), if it did.
    """

    def __init__(self, message: str, *, channel: str = "", code: int | None = None,
                 retry_after: float | None = None) -> None:
        self.channel = channel
        self.code = code
        self.retry_after = retry_after
        super().__init__(message)


class TemporaryDeliveryError(DeliveryError):
    """Worth trying again later: the outbox retries it with back-off."""


class PermanentDeliveryError(DeliveryError):
    """Retrying the same message would fail the same way: kept, shown, not retried."""
