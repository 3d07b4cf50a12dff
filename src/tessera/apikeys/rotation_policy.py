"""Bounds on a key's lifetime and rotation policy (`rotate_every`, `overlap`), and how the
policy sits on a row."""

from __future__ import annotations

from datetime import timedelta

from tessera.apikeys.models import ApiKeyLimits, RotationPolicy
from tessera.core.clock import as_utc
from tessera.core.errors import InvalidRequest
from tessera.policy.models import Decision
from tessera.storage.models_apikeys import ApiKeyRow


def human(delta: timedelta) -> str:
    """A duration as users write it (`30d`, `24h`, `15m`, `90s`)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_policy(policy: RotationPolicy, limits: ApiKeyLimits) -> RotationPolicy:
    """The policy if within the server bounds, else InvalidRequest. Scheduled rotation needs
    an overlap: with none the old key would stop before its holder could pick up the new one."""
    overlap = policy.overlap
    if overlap is not None and not timedelta(0) <= overlap <= limits.max_overlap:
        raise InvalidRequest(f"overlap must be between 0 and {human(limits.max_overlap)}")
    every = policy.rotate_every
    if every is None:
        return policy
    low, high = limits.min_ttl, limits.max_ttl
    if not low <= every <= high:
        raise InvalidRequest(f"rotate_every must be between {human(low)} and {human(high)}")
    if (limits.default_overlap if overlap is None else overlap) <= timedelta(0):
        raise InvalidRequest("scheduled rotation needs an overlap above 0")
    return policy


def apply_policy(row: ApiKeyRow, policy: RotationPolicy) -> None:
    """Store a checked policy; the next rotation is due `rotate_every` after the key was made
    (its last rotation), or never."""
    every, overlap = policy.rotate_every, policy.overlap
    row.rotate_every_seconds = int(every.total_seconds()) if every is not None else None
    row.overlap_seconds = int(overlap.total_seconds()) if overlap is not None else None
    row.rotate_at = as_utc(row.created_at) + every if every is not None else None


def lifetime(
    asked: timedelta | None, default: timedelta, decision: Decision, limits: ApiKeyLimits
) -> timedelta:
    """The asked lifetime within the server bounds and the policy's `max_ttl`; without an
    explicit ask, the default cut to the policy's cap."""
    low, high = limits.min_ttl, limits.max_ttl
    cap_seconds = decision.constraints.get("max_ttl")
    cap = timedelta(seconds=int(cap_seconds)) if cap_seconds is not None else high
    if asked is None:
        return max(low, min(default, high, cap))
    if not low <= asked <= high:
        raise InvalidRequest(f"ttl must be between {human(low)} and {human(high)}")
    if asked > cap:
        raise InvalidRequest(f"ttl exceeds the {human(cap)} your policy allows")
    return asked
