"""Typed reads of fields from user-written JSON documents (PKI profiles, SSH roles, …): each
returns the value or raises InvalidRequest naming the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest

E = TypeVar("E", bound=StrEnum)


def string_list(
    doc: Mapping[str, Any], key: str, default: Sequence[str] = (), max_items: int = 256
) -> tuple[str, ...]:
    value = doc.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{key} must be a list of strings")
    if len(value) > max_items:
        raise InvalidRequest(f"{key}: at most {max_items} entries")
    return tuple(value)


def flag(doc: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{key} must be true or false")
    return value


def duration(
    doc: Mapping[str, Any],
    key: str,
    default: timedelta,
    minimum: timedelta = timedelta(minutes=1),
) -> timedelta:
    """Seconds or a duration such as '8h'; absent: `default`; below `minimum`: refused."""
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise InvalidRequest(f"{key} must be seconds or a duration like '8h'")
    parsed = parse_duration(value, key)
    if parsed < minimum:
        raise InvalidRequest(f"{key} must be at least {int(minimum.total_seconds())} seconds")
    return parsed


def parse_enum(cls: type[E], value: Any, field: str) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidRequest(f"{field} must be one of: {allowed}") from None
