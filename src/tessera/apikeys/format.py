"""API key wire format: `tsk_` + key id (11 base62) + secret (33 base62) + checksum (6 base62).

    tsk_ 3fKq9ZpL0aB Hx…(33)… Q1w2E3
         key id      secret   CRC-32 of everything before it

The key id (64 random bits) is public: it names the key in the API, the CLI and the inventory.
The secret carries 192 random bits. The checksum lets scanners recognise a leaked key and lets
the server refuse a typo before any lookup. Only letters and digits follow the prefix, so a key
matches the built-in scanner rule `tsk_[0-9A-Za-z]{50}` and selects with a double click.
Keys are stored only as HMAC-SHA-256(barrier-held key, whole key) and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib
from dataclasses import dataclass

from tessera.core.randomness import Randomness

PREFIX = "tsk_"
ID_LEN = 11  # 62**11 > 2**64
SECRET_LEN = 33  # 62**33 > 2**192
CHECK_LEN = 6  # 62**6 > 2**32
BODY_LEN = ID_LEN + SECRET_LEN + CHECK_LEN
KEY_LEN = len(PREFIX) + BODY_LEN
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_RE = re.compile(rf"{PREFIX}[0-9A-Za-z]{{{BODY_LEN}}}", re.ASCII)
KEY_ID_RE = re.compile(rf"[0-9A-Za-z]{{{ID_LEN}}}", re.ASCII)


@dataclass(frozen=True)
class GeneratedKey:
    """A new key (shown once, never stored) and its public id."""

    key: str
    key_id: str


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(head: str) -> str:
    return _base62(zlib.crc32(head.encode()), CHECK_LEN)


def generate(rng: Randomness) -> GeneratedKey:
    """A fresh key from the injected randomness (8 bytes of id, 24 bytes of secret)."""
    key_id = _base62(int.from_bytes(rng.token_bytes(8), "big"), ID_LEN)
    secret = _base62(int.from_bytes(rng.token_bytes(24), "big"), SECRET_LEN)
    head = PREFIX + key_id + secret
    return GeneratedKey(key=head + _checksum(head), key_id=key_id)


def parse_key_id(key: str) -> str | None:
    """The key id of a well-formed key (shape and checksum), else None; no lookup involved.
    The length is checked first, so an oversized input costs nothing."""
    if len(key) != KEY_LEN or not _KEY_RE.fullmatch(key):
        return None
    if not hmac.compare_digest(_checksum(key[:-CHECK_LEN]), key[-CHECK_LEN:]):
        return None
    return key[len(PREFIX) : len(PREFIX) + ID_LEN]


def well_formed(key: str) -> bool:
    """Shape and checksum only (for scanners); says nothing about whether the key exists."""
    return parse_key_id(key) is not None


def is_key_id(value: str) -> bool:
    return len(value) == ID_LEN and KEY_ID_RE.fullmatch(value) is not None


def key_hash(hmac_key: bytes, key: str) -> bytes:
    """The stored form of a key: HMAC-SHA-256 under the barrier-held key."""
    return hmac.new(hmac_key, key.encode(), hashlib.sha256).digest()


def digests_equal(stored: bytes, presented: bytes) -> bool:
    """Constant-time comparison; called once per verification that reaches storage, whether
    or not the key id exists (a stand-in digest is compared for unknown ids)."""
    return hmac.compare_digest(stored, presented)
