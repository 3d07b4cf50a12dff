"""Parsing of enum-valued request fields into typed values with a clear 400."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from tessera.core.errors import InvalidRequest

E = TypeVar("E", bound=StrEnum)


def parse_enum(cls: type[E], value: str, field: str) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidRequest(f"{field} must be one of: {allowed}") from None


def parse_optional_enum(cls: type[E], value: str | None, field: str) -> E | None:
    return None if value is None else parse_enum(cls, value, field)
