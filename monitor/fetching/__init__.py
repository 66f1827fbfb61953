"""The only HTTP code of the project (moving into a package: see monitor.fetching.client)."""

from monitor.fetching.client import Fetcher, backoff_delay, check_address, parse_retry_after

__all__ = ["Fetcher", "backoff_delay", "check_address", "parse_retry_after"]
