"""Keyed fingerprints and redacted previews: the only forms in which a found secret leaves the
matcher."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter

from tessera.core.errors import InvalidRequest

MIN_KEY_BYTES = 16
_PREVIEW_MIN_LEN = 16  # below this, even four characters give away too much of the secret


class SecretHasher:
    """HMAC-SHA-256 fingerprints under a caller's key: stable across scans with the same key,
    useless to anyone without it."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise InvalidRequest(f"the scan key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def fingerprint(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def preview(secret: str) -> str:
    """First four characters, an ellipsis and the length; only the length for short secrets."""
    if len(secret) < _PREVIEW_MIN_LEN:
        return f"…({len(secret)} chars)"
    return f"{secret[:4]}…({len(secret)} chars)"


def shannon_entropy(text: str) -> float:
    """Bits per character of `text` (0 for the empty string)."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())
