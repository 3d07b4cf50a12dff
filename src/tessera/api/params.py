"""Parsing of enum-valued request fields into typed values with a clear 400."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from tessera.core.documents import parse_enum

E = TypeVar("E", bound=StrEnum)

__all__ = ["parse_enum", "parse_optional_enum"]


def parse_optional_enum(cls: type[E], value: str | None, field: str) -> E | None:
    return None if value is None else parse_enum(cls, value, field)
