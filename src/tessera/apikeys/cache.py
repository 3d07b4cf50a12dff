"""The per-node cache of verified keys (keyed hash → verification answer).

Entries live at most `ttl` seconds, which bounds how long another node's revocation takes to
apply here. `clear()` (after a revoke or rotation on this node) applies at once: it bumps a
generation, and a fill that read the database before the clear is dropped rather than stored.
Only keys that verified are cached, under their full keyed hash, so a wrong key never hits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tessera.apikeys.models import VerifiedKey
from tessera.core.clock import Clock

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class _Entry:
    verified: VerifiedKey
    at: float


class VerifiedKeyCache:
    """Thread-safe; reads take no lock (dict lookups are atomic), writes do."""

    def __init__(self, clock: Clock, ttl: float) -> None:
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[bytes, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Read before a database lookup; pass to `put` so a racing `clear` wins."""
        return self._generation

    def get(self, digest: bytes) -> VerifiedKey | None:
        entry = self._entries.get(digest)
        if entry is None or self._clock.monotonic() - entry.at >= self._ttl:
            return None
        return entry.verified

    def put(self, digest: bytes, verified: VerifiedKey, generation: int, read_at: float) -> None:
        """Store an answer read from the database at monotonic time `read_at`."""
        with self._lock:
            if generation != self._generation:
                return  # cleared while this was read: the answer may be stale
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {}
            self._entries[digest] = _Entry(verified, read_at)

    def clear(self) -> None:
        with self._lock:
            self._entries = {}
            self._generation += 1
