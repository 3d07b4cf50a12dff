"""Opaque keyset-paging cursors: base64url of the last key seen, validated on the way in."""

from __future__ import annotations

import base64
import binascii

from tessera.core.errors import InvalidRequest

MAX_PAGE = 1000


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None or cursor == "":
        return None
    if len(cursor) > 256:
        raise InvalidRequest("cursor is not valid")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("cursor is not valid") from None
    if not raw.isalnum():
        raise InvalidRequest("cursor is not valid")
    return raw


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
    return limit
