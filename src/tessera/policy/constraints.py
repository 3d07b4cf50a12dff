"""Typed policy constraints: what a rule may limit, how it is written, and how limits combine.

Unknown constraint names are refused (a typo must not silently grant more). When several
rules grant the same request, the most restrictive value of each constraint applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest


@dataclass(frozen=True)
class ConstraintKind:
    """How one constraint is parsed from a rule, combined across rules, and described."""

    parse: Callable[[Any, str], Any]
    combine: Callable[[Sequence[Any]], Any]
    doc: str


def _duration_seconds(value: Any, where: str) -> int:
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise InvalidRequest(f"{where} must be seconds or a duration like '24h'")
    seconds = int(parse_duration(value, where).total_seconds())
    if seconds <= 0:
        raise InvalidRequest(f"{where} must be a positive duration")
    return seconds


KNOWN: Mapping[str, ConstraintKind] = {
    "max_ttl": ConstraintKind(_duration_seconds, min, "Longest lifetime, in seconds."),
}


def normalise(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate a rule's constraints and return them in canonical form (durations in seconds)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = KNOWN.get(key) if isinstance(key, str) else None
        if kind is None:
            known = ", ".join(sorted(KNOWN))
            raise InvalidRequest(f"{where}: unknown constraint {key!r} (known: {known})")
        out[key] = kind.parse(value, f"{where}.{key}")
    return out


def most_restrictive(all_constraints: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Combine the constraints of every granting rule; a key absent from a rule is unlimited."""
    merged: dict[str, list[Any]] = {}
    for constraints in all_constraints:
        for key, value in constraints.items():
            merged.setdefault(key, []).append(value)
    return MappingProxyType({key: KNOWN[key].combine(values) for key, values in merged.items()})
