"""The per-node cache of verified tokens (keyed hash → principal and token info).

Entries live at most `ttl` seconds, which bounds how long another node's revocation takes to
apply here. `clear()` (after a local revoke, renew or policy change) applies at once: it bumps
a generation, and a fill that read the database before the clear is dropped rather than stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tessera.auth.models import Principal, TokenInfo
from tessera.core.clock import Clock

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class CacheEntry:
    principal: Principal
    info: TokenInfo
    at: float


class VerifiedTokenCache:
    """Thread-safe; reads take no lock (dict lookups are atomic), writes do."""

    def __init__(self, clock: Clock, ttl: float) -> None:
        self._clock = clock
        self._ttl = ttl
        self._by_digest: dict[bytes, CacheEntry] = {}
        self._by_accessor: dict[str, CacheEntry] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Read before a database lookup; pass to `put` so a racing `clear` wins."""
        return self._generation

    def get(self, digest: bytes) -> CacheEntry | None:
        return self._fresh(self._by_digest.get(digest))

    def get_by_accessor(self, accessor: str) -> CacheEntry | None:
        return self._fresh(self._by_accessor.get(accessor))

    def put(self, digest: bytes, principal: Principal, info: TokenInfo, generation: int) -> None:
        entry = CacheEntry(principal, info, self._clock.monotonic())
        with self._lock:
            if generation != self._generation:
                return  # a revoke/renew cleared the cache while this was read: don't store it
            if len(self._by_digest) >= MAX_ENTRIES:
                self._by_digest, self._by_accessor = {}, {}
            self._by_digest[digest] = entry
            self._by_accessor[principal.accessor] = entry

    def clear(self) -> None:
        with self._lock:
            self._by_digest, self._by_accessor = {}, {}
            self._generation += 1

    def _fresh(self, entry: CacheEntry | None) -> CacheEntry | None:
        if entry is None or self._clock.monotonic() - entry.at >= self._ttl:
            return None
        return entry
