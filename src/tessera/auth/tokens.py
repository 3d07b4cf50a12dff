"""Token wire format: `tsr_` + 43 base62 chars (256 random bits) + 6 base62 chars of CRC-32.

The prefix and checksum let secret scanners recognise a leaked token (and reject typos) without
asking the server. Stored only as HMAC-SHA256(token key, token).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib

from tessera.core.randomness import Randomness

PREFIX = "tsr_"
ACCESSOR_PREFIX = "tacc_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 43
_CHECK_LEN = 6
TOKEN_RE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{_BODY_LEN + _CHECK_LEN}}}$")
ACCESSOR_RE = re.compile(rf"^{ACCESSOR_PREFIX}[0-9A-Za-z]{{22}}$")


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LEN)


def generate_token(rng: Randomness) -> str:
    body = PREFIX + _base62(int.from_bytes(rng.token_bytes(32), "big"), _BODY_LEN)
    return body + _checksum(body)


def generate_accessor(rng: Randomness) -> str:
    return ACCESSOR_PREFIX + _base62(int.from_bytes(rng.token_bytes(16), "big"), 22)


def well_formed(token: str) -> bool:
    """Shape and checksum only; says nothing about whether the token exists."""
    if len(token) != len(PREFIX) + _BODY_LEN + _CHECK_LEN or not TOKEN_RE.fullmatch(token):
        return False
    body, check = token[:-_CHECK_LEN], token[-_CHECK_LEN:]
    return hmac.compare_digest(_checksum(body), check)


def token_hash(key: bytes, token: str) -> bytes:
    return hmac.new(key, token.encode(), hashlib.sha256).digest()
