"""Logins, CSRF tokens, safe redirects and the loopback rule of the web page.

- Passwords are hashed with scrypt (``hashlib.scrypt``: memory-hard, in the standard
  library) and a random 16-byte salt, stored as ``scrypt$N$r$p$salt$hash`` (base64);
  checked in constant time. An unknown user name costs the same hashing as a known
  one, so a login's timing does not tell which names exist.
- A CSRF token is a random value kept in the (signed) session; every form that changes
  something carries it and :func:`csrf_ok` compares it in constant time.
- :func:`safe_next` lets a redirect go only to a path of this site.
- :func:`is_loopback` decides whether a bind address needs a login.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from monitor.config import WebUser

__all__ = [
    "LoginThrottle",
    "Users",
    "csrf_ok",
    "hash_password",
    "is_loopback",
    "load_secret_key",
    "new_token",
    "safe_next",
    "verify_password",
]

#: scrypt cost: 2**15 x 8 x 128 bytes = 32 MiB and about 0.1 s per check.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 256 * 1024 * 1024
SECRET_FILE = "web-secret-key"  # noqa: S105 (a file name)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password``."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                            maxmem=_MAXMEM)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a hash from :func:`hash_password`)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt, validate=True),
                             n=int(n), r=int(r), p=int(p), dklen=len(want), maxmem=_MAXMEM)
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got, want)


class Users:
    """The people who may log in."""

    def __init__(self, users: Iterable[WebUser]) -> None:
        self._hashes: Mapping[str, str] = {u.name: u.password_hash for u in users}
        # spent on unknown names, so that they take as long as known ones
        self._dummy = hash_password(secrets.token_urlsafe(16))

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def check(self, name: str, password: str) -> bool:
        stored = self._hashes.get(name)
        ok = verify_password(password, stored if stored is not None else self._dummy)
        return ok and stored is not None


class LoginThrottle:
    """At most ``limit`` failed logins per client address in ``window`` seconds."""

    def __init__(self, limit: int = 10, window: float = 600.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(client, []) if now - t < self.window]
        if kept:
            self._failures[client] = kept
        else:
            self._failures.pop(client, None)
        return kept

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) >= self.limit

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._failures[client] = [*self._recent(client, now), now]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: object, given: object) -> bool:
    """Whether the form's token is the session's (both non-empty strings)."""
    if not isinstance(expected, str) or not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (``/queue?x=1``), else ``default``.

    Refused: absolute URLs (``http://evil``), scheme-relative ones (``//evil``),
    backslashes (``/\\evil``, which browsers read as ``//``), control characters and
    anything that does not start with one ``/``.
    """
    if not target or len(target) > 2000:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the page on this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def load_secret_key(configured: str, data_dir: Path) -> str:
    """The configured key, else the one kept in ``<data_dir>/web-secret-key`` (made,
    readable by the owner only, on first use)."""
    if configured:
        return configured
    path = data_dir / SECRET_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = None
    if key is not None and len(key) >= 32:
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(4)}")
    tmp.touch(mode=0o600)
    try:
        tmp.write_text(secrets.token_urlsafe(48) + "\n", encoding="ascii")
        if key is not None:  # too short to be ours: replace it
            tmp.replace(path)
        else:
            # fails if another process made one first: then that one is used
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip()
