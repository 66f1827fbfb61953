"""Duplicate detection: canonical URLs, exact text hashes, MinHash near-duplicates.

Three levels, cheapest first:

1. :func:`canonical_url` makes one key for the many spellings of one URL.
2. :func:`content_hash` is equal for texts that differ only in case, whitespace
   and punctuation.
3. :func:`text_signature` is a MinHash of the text's word 3-shingles, and
   :func:`signature_bands` its locality-sensitive hash bands: two stored texts are
   compared (:func:`similarity`) only when they share a band value.

Tokens and shingles
    Text is NFKC-normalised and case-folded; tokens are runs of letters and digits.
    Scripts written without spaces (Chinese, Japanese kana, Thai, Lao, Khmer,
    Myanmar) give one token per character, so their shingles are character 3-grams.
    A shingle is :data:`SHINGLE` = 3 consecutive tokens. Three, not five: on the 176
    articles of the Zyte benchmark (80+ words), 3 changed words keep Jaccard >= 0.90
    for 90% of articles with 3-shingles (0.85 with 5-shingles), while the most
    similar pair of different articles stays at 0.17.

Signature
    :data:`NUM_PERM` = 128 min-hashes of 32 bits (512 bytes, little-endian). A
    shingle's 64-bit hash is a polynomial of its tokens' BLAKE2b hashes, mixed by
    the SplitMix64 finaliser; hash function ``i`` is multiply-shift
    ``(a_i * x + b_i) mod 2**64 >> 32`` with fixed odd ``a_i``. The estimate of a
    Jaccard ``J`` has a standard error of ``sqrt(J (1 - J) / 128)``: 0.032 at 0.85.

Bands (LSH)
    :data:`BANDS` = 21 bands of :data:`ROWS` = 6 hashes (126 of the 128; the last
    two only count in :func:`similarity`). The chance that two texts of Jaccard
    ``J`` share at least one band is ``1 - (1 - J**6) ** 21``::

        J     0.05   0.10   0.20   0.30   0.50   0.60   0.70   0.80   0.85    0.90
        P     3e-7   2e-5   .0013  .015   .28    .63    .93    .9983  .99995  1-1e-7

    and more: two signatures that agree on 109 or more of the 128 hashes (an
    estimate >= 0.85, the default threshold) differ in at most 19 of the 21 bands,
    so they *always* share a band. Whatever :func:`is_near_duplicate` accepts at the
    default threshold, the band lookup finds.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

__all__ = [
    "BANDS",
    "NUM_PERM",
    "ROWS",
    "SHINGLE",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "content_hash",
    "is_near_duplicate",
    "signature_bands",
    "similarity",
    "text_signature",
    "tokens",
    "word_count",
]

SHINGLE = 3
NUM_PERM = 128
BANDS = 21
ROWS = 6
SIGNATURE_BYTES = NUM_PERM * 4

# ---------------------------------------------------------------------------- URLs

#: Query parameters that only track the click, dropped whatever their value
#: (compared case-insensitively).
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "yclid", "msclkid", "twclid",
    "ttclid", "li_fat_id", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "__hstc",
    "__hssc", "__hsfp", "hsctatracking", "igshid", "igsh", "ref_src", "ref_url", "spm",
    "scm", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "wickedid",
    "_openstat", "rb_clickid", "s_cid", "ncid", "sr_share", "pk_campaign", "pk_kwd",
    "pk_source", "pk_medium", "pk_content", "cmpid", "at_medium", "at_campaign", "si",
})
#: Prefixes of tracking parameter families: Google Analytics, Matomo, HubSpot ads.
TRACKING_PREFIXES = ("utm_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789ABCDEFabcdef")
# characters left as they are besides unreserved ones and escapes (RFC 3986 sub-delims,
# ":" and "@"; "/" in paths; "/" and "?" in query parts, but not "&", "=" or "+",
# which would change how a query splits or decodes)
_PATH_SAFE = frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = frozenset("!$'()*,;:@/?+")


def _normalise_escapes(part: str, safe: frozenset[str]) -> str:
    """Percent-encoding in one canonical form: unreserved characters decoded, other
    escapes in upper case, every other character outside ``safe`` encoded (as UTF-8)."""
    out: list[str] = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "%" and i + 2 < len(part) and part[i + 1] in _HEX and part[i + 2] in _HEX:
            decoded = chr(int(part[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + part[i + 1 : i + 3].upper())
            i += 3
            continue
        if ch in _UNRESERVED or ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986, section 5.2.4: ``/a/./b/../c`` -> ``/a/c``."""
    if "." not in path:
        return path
    output: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        elif segment == ".":
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/".join(output) if output != [""] else "/"


def _host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        return f"[{host}]"
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return _normalise_escapes(host, frozenset()).lower()


def _is_tracking(raw_name: str) -> bool:
    from urllib.parse import unquote_plus

    name = unquote_plus(raw_name).strip().lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """One spelling for one http(s) URL; pure and idempotent.

    Lower-case scheme and host, IDNA host (``xn--``, IDNA 2003 as Python's codec
    does it), no trailing dot in the host, no default port, no fragment; path
    with dot segments removed, empty path ``/``, trailing slashes kept; query
    without tracking parameters (:data:`TRACKING_PARAMS`, :data:`TRACKING_PREFIXES`)
    and without empty pairs, sorted by name (values of one name keep their order); percent-encoding
    normalised (unreserved characters decoded, escapes upper-case, spaces and
    non-ASCII encoded as UTF-8). Anything that is not an absolute http(s) URL
    comes back stripped, with its scheme lower-cased and no fragment.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return url.split("#", 1)[0].strip()
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")).strip()
    netloc = _host(parts.hostname)
    try:
        port = parts.port
    except ValueError:  # not a number: keep it as written
        port = None
        netloc += ":" + parts.netloc.rpartition(":")[2]
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    if parts.username is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{_normalise_escapes(userinfo, frozenset('!$&()*+,;=:'))}@{netloc}"
    path = _remove_dot_segments(_normalise_escapes(parts.path, _PATH_SAFE)) or "/"
    pairs: list[tuple[str, str]] = []
    for item in parts.query.split("&"):
        if not item:
            continue
        name, eq, value = item.partition("=")
        if (not name and not value) or _is_tracking(name):
            continue
        pairs.append((_normalise_escapes(name, _QUERY_SAFE),
                      eq + _normalise_escapes(value, _QUERY_SAFE | {"="})))
    pairs.sort(key=lambda pair: pair[0])
    query = "&".join(name + value for name, value in pairs)
    return urlunsplit((scheme, netloc, path, query, ""))


# ---------------------------------------------------------------------------- texts

# scripts written without spaces between words: one token per character
_NO_SPACE = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
_TOKEN_RE = re.compile(f"[{_NO_SPACE}]|[^\\W_{_NO_SPACE}]+")


def tokens(text: str) -> list[str]:
    """The words of ``text`` as shingles see them: NFKC, case-folded, letters and
    digits only, one token per character in scripts without spaces."""
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def word_count(text: str) -> int:
    """Number of :func:`tokens` (a Chinese or Thai character counts as one)."""
    return len(tokens(text))


def content_hash(text: str) -> str:
    """SHA-256 (hex) of the text's tokens joined by single spaces: equal for texts
    that differ only in case, whitespace, punctuation or Unicode normal form."""
    return hashlib.sha256(" ".join(tokens(text)).encode("utf-8")).hexdigest()


_U64 = np.uint64
_MASK32 = _U64(0xFFFFFFFF)


@functools.cache
def _permutations() -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """The fixed multipliers (odd) and offsets of the 128 hash functions."""
    rng = np.random.default_rng(20240514)
    a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) * _U64(2) + _U64(1)
    b = rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
    return a, b


def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def _shingle_hashes(words: list[str]) -> npt.NDArray[np.uint64]:
    cache: dict[str, int] = {}
    ids = np.fromiter(
        (cache[w] if w in cache else cache.setdefault(w, _token_hash(w)) for w in words),
        dtype=np.uint64, count=len(words),
    )
    n = max(1, len(ids) - SHINGLE + 1)
    with np.errstate(over="ignore"):
        h = ids[:n].copy()
        for offset in range(1, min(SHINGLE, len(ids))):
            h = h * _U64(0x9E3779B97F4A7C15) + ids[offset : offset + n]
        # SplitMix64 finaliser: every input bit reaches every output bit
        h ^= h >> _U64(30)
        h *= _U64(0xBF58476D1CE4E5B9)
        h ^= h >> _U64(27)
        h *= _U64(0x94D049BB133111EB)
        h ^= h >> _U64(31)
    return h


def text_signature(text: str) -> bytes:
    """MinHash signature of the text's 3-shingles: 128 little-endian uint32, 512 bytes.

    A text without any token gets the all-``0xFFFFFFFF`` signature (equal for all
    empty texts); callers skip texts shorter than ``dedupe.min_words`` anyway.
    """
    words = tokens(text)
    if not words:
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype="<u4").tobytes()
    a, b = _permutations()
    x = _shingle_hashes(words)
    with np.errstate(over="ignore"):
        hashed = (x[:, None] * a[None, :] + b[None, :]) >> _U64(32)
    signature: bytes = hashed.min(axis=0).astype("<u4").tobytes()
    return signature


def _values(signature: bytes) -> npt.NDArray[np.uint32]:
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"a signature has {SIGNATURE_BYTES} bytes, not {len(signature)}")
    return np.frombuffer(signature, dtype="<u4")


def signature_bands(signature: bytes) -> list[int]:
    """The :data:`BANDS` LSH band values of a signature, each a signed 64-bit int
    (fits a ``BIGINT``); index ``i`` is band ``i``. Equal texts give equal lists."""
    _values(signature)
    width = ROWS * 4
    return [
        int.from_bytes(
            hashlib.blake2b(signature[i * width : (i + 1) * width], digest_size=8).digest(),
            "little", signed=True,
        )
        for i in range(BANDS)
    ]


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets (0.0 to 1.0)."""
    return float(np.count_nonzero(_values(a) == _values(b))) / NUM_PERM


def is_near_duplicate(a: bytes, b: bytes, *, threshold: float = 0.85) -> bool:
    """True when the estimated Jaccard similarity is at least ``threshold``."""
    return similarity(a, b) >= threshold
