"""AES-256-GCM envelope blobs: `version (4 bytes, big-endian) || nonce (12) || ciphertext+tag`.

The key version in the header selects the keyring data key; the associated data (never stored)
binds the blob to where it lives, so a blob copied elsewhere fails authentication.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.core.errors import BarrierError
from tessera.core.randomness import Randomness

NONCE_SIZE = 12
KEY_SIZE = 32
_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class AAD:
    """Where a ciphertext lives: table, row key and column. Encoded unambiguously."""

    table: str
    row: str
    column: str

    def encode(self) -> bytes:
        parts = (self.table, self.row, self.column)
        return b"".join(_HEADER.pack(len(p.encode())) + p.encode() for p in parts)


def encrypt(key: bytes, version: int, plaintext: bytes, aad: bytes, rng: Randomness) -> bytes:
    nonce = rng.token_bytes(NONCE_SIZE)
    header = _HEADER.pack(version)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


def blob_version(blob: bytes) -> int:
    if len(blob) < _HEADER.size + NONCE_SIZE + 16:
        raise BarrierError("ciphertext is truncated")
    return int(_HEADER.unpack_from(blob)[0])


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    header, nonce = blob[: _HEADER.size], blob[_HEADER.size : _HEADER.size + NONCE_SIZE]
    try:
        return AESGCM(key).decrypt(nonce, blob[_HEADER.size + NONCE_SIZE :], header + aad)
    except InvalidTag:
        raise BarrierError("ciphertext failed authentication for this location") from None
