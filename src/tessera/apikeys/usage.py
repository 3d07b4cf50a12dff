"""Last use of each key, kept in memory and written at most once per interval per key.

A verification only notes the time (a dict write); `take_due` hands the flusher the keys whose
last write is at least `interval` seconds old (monotonic clock), so N verifications of one key
within an interval cost one database write, not N.
"""

from __future__ import annotations

import threading
from datetime import datetime

from tessera.core.clock import Clock

MAX_TRACKED = 100_000


class UsageBuffer:
    """Thread-safe record of uses not yet written."""

    def __init__(self, clock: Clock, interval: float) -> None:
        self._clock = clock
        self._interval = interval
        self._pending: dict[str, datetime] = {}  # key id → latest use not yet written
        self._written: dict[str, float] = {}  # key id → monotonic time of its last write
        self._lock = threading.Lock()

    def note(self, key_id: str, when: datetime) -> None:
        with self._lock:
            if len(self._pending) < MAX_TRACKED or key_id in self._pending:
                self._pending[key_id] = when

    def take_due(self, *, force: bool = False) -> dict[str, datetime]:
        """Remove and return the uses to write now (all of them when `force`)."""
        now = self._clock.monotonic()
        with self._lock:
            due = {
                key_id: when
                for key_id, when in self._pending.items()
                if force or self._due(key_id, now)
            }
            for key_id in due:
                del self._pending[key_id]
                self._written[key_id] = now
            if len(self._written) > MAX_TRACKED:
                # forgetting only costs an early write for keys still in use
                self._written = {k: t for k, t in self._written.items() if k in self._pending}
        return due

    def _due(self, key_id: str, now: float) -> bool:
        last = self._written.get(key_id)
        return last is None or now - last >= self._interval

    def put_back(self, uses: dict[str, datetime]) -> None:
        """Uses a failed flush could not write: keep them (newer notes win) for the next try."""
        with self._lock:
            for key_id, when in uses.items():
                self._written.pop(key_id, None)
                current = self._pending.get(key_id)
                if current is None or current < when:
                    self._pending[key_id] = when

    def __len__(self) -> int:
        return len(self._pending)
