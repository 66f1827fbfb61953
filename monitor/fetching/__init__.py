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

from monitor.fetching.addresses import check_address
from monitor.fetching.client import MAX_RETRY_AFTER, Fetcher, backoff_delay, parse_retry_after

__all__ = ["MAX_RETRY_AFTER", "Fetcher", "backoff_delay", "check_address", "parse_retry_after"]
