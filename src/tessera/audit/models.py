"""Audit domain objects and the canonical line format shared by the sinks and `verify`.

Contract:
- `Sensitive` marks a string that must never reach an audit sink in clear. Wherever such a value
  sits in an event's `data` (nested mappings and lists too, keys included), a sink writes
  `"hmac-sha256:<hex>"` = HMAC-SHA256(that sink's salt, value) — or `"redacted"` while sealed.
- `AuditEvent` is immutable and validates on construction (timezone-aware `time`, non-empty
  `type`); `data` is copied into a read-only mapping.
- One audit line is the canonical JSON (`canonical_json`) of an object with the keys
  `seq, prev, hash, time, type, request_id, data`, where `hash` = `line_hash` of the object
  without `hash`, `prev` is the previous line's `hash` (`GENESIS_HASH` for `seq` 1).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

GENESIS_HASH = "0" * 64
"""The `prev` of the first line of every chain."""

LINE_KEYS = frozenset({"seq", "prev", "hash", "time", "type", "request_id", "data"})
"""Keys every audit line carries."""

_HEX = frozenset("0123456789abcdef")
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Sensitive(str):
    """A string that is written to audit sinks only as a keyed hash, never in clear.

    `repr()` hides the value so it does not leak through debug output either.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Sensitive('***')"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something that happened: `type` ("request", "response", "system", …), when, for which
    request, and JSON-like `data` (str, int, float, bool, None, datetime, mappings with str keys,
    lists/tuples; `Sensitive` anywhere)."""

    type: str
    time: datetime
    request_id: str
    data: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not self.type:
            raise ValueError("audit event type must not be empty")
        if isinstance(self.type, Sensitive) or isinstance(self.request_id, Sensitive):
            raise ValueError("audit event type and request_id are written in clear")
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("audit event time must be timezone-aware")
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))


def canonical_json(obj: Any) -> str:
    """`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`."""
    return _ENCODER.encode(obj)


def is_chain_hash(value: object) -> bool:
    """Whether `value` looks like a `hash`/`prev` field: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def line_hash(unhashed_json: str) -> str:
    """SHA-256 hex of the canonical JSON of a line object without its `hash` key."""
    return hashlib.sha256(unhashed_json.encode("utf-8")).hexdigest()


def rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with microseconds and a 'Z' suffix, e.g. `2030-01-01T00:00:00.000000Z`."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"
