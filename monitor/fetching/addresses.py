"""Address checks: which hosts and IP addresses a fetch may connect to.

Loopback, private, link-local, unspecified, reserved, multicast and other non-global
addresses (also inside IPv4-mapped and 6to4 IPv6 addresses) are refused unless
``allow_private`` or ``allowed_hosts`` allows them.
"""
from __future__ import annotations

import functools
import ipaddress
import socket

from monitor.config import FetchSettings
from monitor.errors import BlockedAddressError, TransportError

__all__ = ["check_address"]

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
