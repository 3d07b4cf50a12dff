"""Injected randomness: every secret byte comes from `secrets` unless a test swaps the source."""

from __future__ import annotations

import secrets
from typing import Protocol


class Randomness(Protocol):
    """Cryptographically secure random bytes."""

    def token_bytes(self, n: int) -> bytes: ...


class SystemRandomness:
    """`secrets.token_bytes`: the OS CSPRNG."""

    def token_bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)
