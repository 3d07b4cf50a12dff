"""Validation of token request fields, shared by the token use cases."""

from __future__ import annotations

from datetime import timedelta

from tessera.auth import tokens
from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text

MAX_META = 32


def fingerprint(digest: bytes) -> str:
    """The inventory fingerprint of a token: its keyed hash, never the token."""
    return "hmac-sha256:" + digest.hex()


def positive(value: timedelta | None, field: str) -> timedelta:
    if value is None or value.total_seconds() <= 0:
        raise InvalidRequest(f"{field} must be a positive duration")
    return value


def check_accessor(accessor: str) -> str:
    if not tokens.ACCESSOR_RE.fullmatch(accessor):
        raise InvalidRequest("the accessor is malformed")
    return accessor


def check_display(name: str) -> str:
    return check_text(name, "display_name", 256)


def check_meta(meta: dict[str, str] | object) -> dict[str, str]:
    if not isinstance(meta, dict) or len(meta) > MAX_META:
        raise InvalidRequest(f"meta must be an object of at most {MAX_META} strings")
    for k, v in meta.items():
        check_text(k, "meta key", 128)
        check_text(v, f"meta {k!r}", 512, allow_empty=True)
    return dict(meta)
