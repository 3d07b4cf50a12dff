"""Typed, time-sortable identifiers (48-bit millisecond time + 80 random bits, Crockford base32)."""

from __future__ import annotations

from typing import NewType

from tessera.core.clock import Clock
from tessera.core.randomness import Randomness

IdentityId = NewType("IdentityId", str)
CredentialId = NewType("CredentialId", str)
TokenAccessor = NewType("TokenAccessor", str)
RequestId = NewType("RequestId", str)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(clock: Clock, rng: Randomness) -> str:
    """A 26-character ULID: sorts by creation time, 80 bits of randomness within a millisecond."""
    millis = int(clock.now().timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | int.from_bytes(rng.token_bytes(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))
