"""One rule for free text we store and later print (owners, labels, display names, meta):
no control characters (C0, DEL, C1) and no bidirectional overrides that disguise output."""

from __future__ import annotations

import re

from tessera.core.errors import InvalidRequest

_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check_text(value: str, field: str, max_len: int = 255, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not value and not allow_empty):
        raise InvalidRequest(f"{field} must be 1-{max_len} characters")
    if _FORBIDDEN.search(value):
        raise InvalidRequest(f"{field} must not contain control or direction-override characters")
    return value
