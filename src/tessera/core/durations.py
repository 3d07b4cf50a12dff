"""Durations as users write them: `90`, `90s`, `15m`, `24h`, `90d`, `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

from tessera.core.errors import InvalidRequest

_PART = re.compile(r"(\d{1,9})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(value: str | int, field: str = "duration") -> timedelta:
    """Parse into a timedelta; refuses negatives, garbage and more than 100 years."""
    if isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a duration like 3600, '90m' or '24h'")
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower()
        if text.isascii() and text.isdigit() and len(text) <= 12:
            seconds = int(text)
        else:
            pos, seconds = 0, 0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += int(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise InvalidRequest(f"{field} must be a duration like 3600, '90m' or '24h'")
    if seconds < 0 or seconds > MAX_SECONDS:
        raise InvalidRequest(f"{field} must be between 0 and 100 years")
    return timedelta(seconds=seconds)
