"""The `Auditor`: fans each `AuditEvent` out to every sink, fail-closed.

Contract:
- `log(event)` writes one line to every sink and returns when at least one sink recorded it;
  when none could (or there are no sinks) it raises `AuditUnavailable`, and the caller must not
  go on as if the event was recorded. Every sink is tried on every call, so a sink that comes
  back is used again without a restart.
- A failing sink is counted in `failures[name]` and reported on the `tessera.audit` logger
  (a warning when it starts failing, debug while it keeps failing, info when it recovers);
  log records never contain event contents.
- `Sensitive` values (anywhere in `data`, keys included) are written as
  `"hmac-sha256:<hex>"` = HMAC-SHA256(salt, value), salt = HMAC-SHA256(audit key,
  b"tessera-audit-salt:" + sink name), so each sink hashes differently; without an audit key
  (sealed) they are written as `"redacted"`. Never in clear.
- `data` must be JSON-like: str, int, float, bool, None, datetime (written as RFC 3339),
  mappings with str keys, lists and tuples; anything else raises `TypeError` before any write.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from tessera.audit.models import AuditEvent, Sensitive, rfc3339
from tessera.audit.sinks import AuditSink, AuditWriteError
from tessera.core.clock import Clock
from tessera.core.errors import AuditUnavailable, NotFound, Sealed

_log = logging.getLogger("tessera.audit")
_SALT_LABEL = b"tessera-audit-salt:"
_HMAC_PREFIX = "hmac-sha256:"
REDACTED = "redacted"
_PLAIN = (str, int, float, type(None))  # bool is an int


class _Renderer:
    """Turns event data into JSON-native values, hashing `Sensitive` with one sink's salt."""

    __slots__ = ("salt", "saw_sensitive")

    def __init__(self, salt: bytes | None) -> None:
        self.salt = salt
        self.saw_sensitive = False

    def render(self, value: Any) -> Any:
        if isinstance(value, Sensitive):
            self.saw_sensitive = True
            if self.salt is None:
                return REDACTED
            return _HMAC_PREFIX + hmac.digest(self.salt, value.encode("utf-8"), "sha256").hex()
        if isinstance(value, _PLAIN):
            return value
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(f"audit data keys must be str, not {type(key).__name__}")
                out[self.render(key)] = self.render(item)
            return out
        if isinstance(value, list | tuple):
            return [self.render(item) for item in value]
        if isinstance(value, datetime):
            return rfc3339(value)
        if isinstance(value, Enum):
            return self.render(value.value)
        raise TypeError(f"audit data cannot hold a {type(value).__name__}")


class Auditor:
    """Records audit events in every sink; see the module docstring for the contract."""

    def __init__(self, sinks: Sequence[AuditSink], clock: Clock) -> None:
        names = [sink.name for sink in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"audit sink names must be unique: {names}")
        self._sinks = tuple(sinks)
        self._clock = clock
        self._salts: dict[str, bytes] | None = None
        self._healthy = dict.fromkeys(names, True)
        self._failures = dict.fromkeys(names, 0)
        self._lock = threading.Lock()

    @property
    def sink_names(self) -> tuple[str, ...]:
        return tuple(sink.name for sink in self._sinks)

    @property
    def failures(self) -> dict[str, int]:
        """Failed writes per sink name since start (a copy)."""
        with self._lock:
            return dict(self._failures)

    def set_audit_key(self, key: bytes | None) -> None:
        """Set the 32-byte audit key on unseal, or `None` on seal (then `Sensitive` → redacted)."""
        if key is None:
            self._salts = None
            return
        if len(key) != 32:
            raise ValueError("the audit key must be 32 bytes")
        self._salts = {
            sink.name: hmac.digest(key, _SALT_LABEL + sink.name.encode("utf-8"), "sha256")
            for sink in self._sinks
        }

    def hash_value(self, sink_name: str, value: str) -> str:
        """The `hmac-sha256:<hex>` that sink `sink_name` writes for `value` (to search its log)."""
        if sink_name not in self._healthy:
            raise NotFound(f"no audit sink named {sink_name!r}")
        salts = self._salts
        if salts is None:
            raise Sealed("audit hashes need the audit key; unseal first")
        return _HMAC_PREFIX + hmac.digest(salts[sink_name], value.encode("utf-8"), "sha256").hex()

    def available(self) -> bool:
        """Whether some sink is not known to be broken (its last write, if any, succeeded)."""
        return any(self._healthy.values())

    def emit(self, event_type: str, request_id: str, data: Mapping[str, Any]) -> None:
        """`log` an event stamped with the injected clock's current time."""
        self.log(AuditEvent(event_type, self._clock.now(), request_id, data))

    def log(self, event: AuditEvent) -> None:
        """Write `event` to every sink; raise `AuditUnavailable` when no sink recorded it."""
        salts = self._salts  # one snapshot: a concurrent seal cannot mix keys within an event
        head = {"time": rfc3339(event.time), "type": event.type, "request_id": event.request_id}
        shared: Any = None  # data rendered once when it holds no Sensitive value
        recorded = False
        for sink in self._sinks:
            name = sink.name
            if shared is None:
                renderer = _Renderer(None if salts is None else salts[name])
                data = renderer.render(event.data)
                if not renderer.saw_sensitive:
                    shared = data
            else:
                data = shared
            try:
                sink.write({**head, "data": data})
            except AuditWriteError as exc:
                self._failed(name, str(exc))
                continue
            except Exception as exc:  # a third-party sink bug counts as a failed write
                self._failed(name, f"unexpected {type(exc).__name__}")
                continue
            recorded = True
            if not self._healthy[name]:
                self._healthy[name] = True
                _log.info("audit sink %s recovered", name)
        if not recorded:
            raise AuditUnavailable()

    def _failed(self, name: str, reason: str) -> None:
        with self._lock:
            self._failures[name] += 1
            was_healthy, self._healthy[name] = self._healthy[name], False
        level = logging.WARNING if was_healthy else logging.DEBUG
        _log.log(level, "audit sink %s failed: %s", name, reason)
