"""What token handling needs from the barrier."""

from __future__ import annotations

from typing import Protocol


class TokenKeySource(Protocol):
    """Supplies the HMAC key tokens are hashed with (kept behind the barrier)."""

    def system_secret(self, name: str, size: int = 32) -> bytes: ...
