"""Webhooks at the edge: POST a JSON body through the project's one HTTP client.

The :class:`~monitor.fetching.Fetcher` applies the address rules (no private
addresses unless allowed), timeouts and the response cap; redirects are not
followed. Failures become :class:`TemporaryDeliveryError` (429, 408, 5xx, timeouts,
refused connections: retried with back-off) or :class:`PermanentDeliveryError`
(other 4xx, 3xx, a refused address: shown in ``status``, not retried blindly).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from monitor.errors import (
    BlockedAddressError,
    DeliveryError,
    FetchError,
    HTTPStatusError,
    PermanentDeliveryError,
    RateLimitedError,
    ResponseTooLargeError,
    TemporaryDeliveryError,
)
from monitor.fetching import Fetcher

__all__ = ["post_webhook"]

_RETRYABLE = {408, 425, 429}


def post_webhook(fetcher: Fetcher, url: str, payload: Mapping[str, Any], *,
                 channel: str = "") -> int:
    """POST ``payload`` as JSON; the HTTP status of a 2xx answer."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    try:
        return fetcher.post(url, body).status
    except ResponseTooLargeError:
        return 200  # a 2xx whose body was too long to read: the POST was taken
    except DeliveryError:
        raise
    except RateLimitedError as exc:
        raise TemporaryDeliveryError(f"webhook rate limited ({exc.status})", channel=channel,
                                     code=exc.status, retry_after=exc.retry_after) from exc
    except HTTPStatusError as exc:
        status = exc.status
        message = f"webhook answered {status}"
        if status in _RETRYABLE or status >= 500:
            raise TemporaryDeliveryError(message, channel=channel, code=status) from exc
        raise PermanentDeliveryError(message, channel=channel, code=status) from exc
    except BlockedAddressError as exc:
        raise PermanentDeliveryError(f"webhook address refused: {exc}", channel=channel) from exc
    except FetchError as exc:
        raise TemporaryDeliveryError(f"webhook failed: {exc}", channel=channel) from exc
