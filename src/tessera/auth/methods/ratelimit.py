"""Login throttling: token buckets per source address and per login key (role id, role name),
and a lockout after repeated failures on a canonicalised key.

State is in memory, per node: with N nodes an attacker gets at most N times the budget, which
the lockout still bounds. Memory is bounded: the oldest entries are dropped past `max_entries`.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from tessera.core.clock import Clock
from tessera.core.errors import InvalidRequest, RateLimited


@dataclass(frozen=True)
class LoginLimits:
    """Bucket sizes and refill rates (per second), and the lockout rule: `max_failures`
    consecutive failures within `failure_window` seconds lock the key for `lockout` seconds."""

    source_burst: int = 60
    source_rate: float = 10.0
    key_burst: int = 20
    key_rate: float = 2.0
    max_failures: int = 5
    failure_window: float = 15 * 60
    lockout: float = 15 * 60
    max_entries: int = 100_000

    def __post_init__(self) -> None:
        if min(self.source_burst, self.key_burst, self.max_failures, self.max_entries) < 1:
            raise InvalidRequest("login limits must be positive")
        if min(self.source_rate, self.key_rate, self.failure_window, self.lockout) <= 0:
            raise InvalidRequest("login limits must be positive")


def canonical_key(key: str) -> str:
    """One key for every case, width and whitespace variant of a role id or role name."""
    folded = unicodedata.normalize("NFKC", key).casefold()
    return "".join(folded.split())


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Failures:
    count: int
    first: float
    locked_until: float = 0.0


class _Lru(OrderedDict[str, object]):
    """An OrderedDict trimmed to its newest `limit` entries."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def touch(self, key: str, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class LoginGuard:
    """`admit` before checking a proof (raises RateLimited with `retry_after` seconds);
    `failed` / `succeeded` after. Thread-safe."""

    def __init__(self, clock: Clock, limits: LoginLimits | None = None) -> None:
        self._clock = clock
        self.limits = limits or LoginLimits()
        self._lock = threading.Lock()
        self._buckets = _Lru(self.limits.max_entries)
        self._failures = _Lru(self.limits.max_entries)

    def admit(self, method: str, source: str, key: str) -> None:
        """Lockouts and the per-role bucket count per (role, source): failures sent from
        elsewhere must not lock a role's real callers out. A role-wide bucket ten times larger
        still caps a spread-out attack."""
        lim = self.limits
        now = self._clock.monotonic()
        ckey = f"{method}:{canonical_key(key)}"
        with self._lock:
            state = self._failures.get(f"{ckey}@{source}")
            if isinstance(state, _Failures) and state.locked_until > now:
                raise _limited(
                    "too many failed logins for this role; locked", state.locked_until - now
                )
            wait = self._take(f"src:{source}", lim.source_burst, lim.source_rate, now)
            if wait:
                raise _limited("too many logins from this address", wait)
            wait = self._take(f"key:{ckey}@{source}", lim.key_burst, lim.key_rate, now)
            if not wait:
                wait = self._take(f"key:{ckey}", lim.key_burst * 10, lim.key_rate * 10, now)
            if wait:
                raise _limited("too many logins for this role", wait)

    def failed(self, method: str, key: str, source: str = "") -> bool:
        """Count a failure of `key` from `source`; True when this one locked them."""
        lim = self.limits
        now = self._clock.monotonic()
        ckey = f"{method}:{canonical_key(key)}@{source}"
        with self._lock:
            state = self._failures.get(ckey)
            if not isinstance(state, _Failures) or now - state.first > lim.failure_window:
                state = _Failures(0, now)
            state.count += 1
            locked = state.count >= lim.max_failures and state.locked_until <= now
            if locked:
                state.locked_until = now + lim.lockout
                state.count, state.first = 0, now
            self._failures.touch(ckey, state)
            return locked

    def succeeded(self, method: str, key: str, source: str = "") -> None:
        with self._lock:
            self._failures.pop(f"{method}:{canonical_key(key)}@{source}", None)

    def _take(self, name: str, burst: int, rate: float, now: float) -> float:
        """Take one token; 0 when granted, else the seconds until one is available."""
        bucket = self._buckets.get(name)
        if not isinstance(bucket, _Bucket):
            bucket = _Bucket(float(burst), now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        self._buckets.touch(name, bucket)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


def _limited(detail: str, wait: float) -> RateLimited:
    return RateLimited(detail, retry_after=max(1, math.ceil(wait)))


__all__ = ["LoginGuard", "LoginLimits", "canonical_key"]
