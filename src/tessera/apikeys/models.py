"""API keys as domain objects: requests, stored keys (never the secret), verification answers.

Scopes are what a key lets its holder do at the service that verifies it (Tessera does not
interpret them): 1-3 segments joined by `:`, each of lower-case letters, digits, `_ . -`,
e.g. `orders:read` or `billing:invoices:write`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tessera.core.errors import InvalidRequest

MAX_SCOPES = 64
MAX_SCOPE_LEN = 128
SCOPE_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}(?::[a-z0-9][a-z0-9_.-]{0,62}){0,2}", re.ASCII)


class ApiKeyStatus(StrEnum):
    """`superseded`: rotated, still accepted until `expires_at` (the end of the overlap)."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    REVOKED = "revoked"


def validate_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """Scopes in the given order without duplicates; refuses anything but the scope syntax."""
    if isinstance(scopes, str) or len(scopes) > MAX_SCOPES:
        raise InvalidRequest(f"scopes must be a list of at most {MAX_SCOPES} scopes")
    for scope in scopes:
        if (
            not isinstance(scope, str)
            or len(scope) > MAX_SCOPE_LEN
            or not SCOPE_RE.fullmatch(scope)
        ):
            raise InvalidRequest(
                "each scope is 1-3 segments joined by ':', each of lower-case letters, digits, "
                "'_', '.', '-' starting with a letter or digit (e.g. 'orders:read')"
            )
    return tuple(dict.fromkeys(scopes))


@dataclass(frozen=True)
class ApiKeyLimits:
    """Server-wide bounds: lifetimes, rotation overlap, the verified-key cache lifetime (s)
    and how often (s) a key's last use is written at most."""

    default_ttl: timedelta = timedelta(days=90)
    min_ttl: timedelta = timedelta(minutes=1)
    max_ttl: timedelta = timedelta(days=366)
    default_overlap: timedelta = timedelta(hours=24)
    max_overlap: timedelta = timedelta(days=30)
    cache_ttl: float = 1.0
    usage_interval: float = 60.0


@dataclass(frozen=True)
class RotationPolicy:
    """Scheduled rotation: every `rotate_every` (None: never) the key gets a successor and
    keeps working for `overlap` (None: the server default) while its holder picks that up."""

    rotate_every: timedelta | None = None
    overlap: timedelta | None = None


@dataclass(frozen=True)
class CreateApiKeyRequest:
    """A new key for an identity; `ttl` None takes the default lifetime."""

    identity: str
    scopes: Sequence[str] = ()
    ttl: timedelta | None = None
    name: str | None = None
    rotation: RotationPolicy = RotationPolicy()


@dataclass(frozen=True)
class RotateApiKeyRequest:
    """A successor key; the old one stays valid for `overlap` (None: the default) and the new
    one lives `ttl` (None: as long as the old one was created for)."""

    overlap: timedelta | None = None
    ttl: timedelta | None = None


@dataclass(frozen=True)
class ApiKeyQuery:
    """Keyset-paged listing, optionally of one identity's keys."""

    identity: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class ApiKey:
    """A stored key: metadata only, never the key or its hash."""

    id: str
    name: str
    identity: str
    identity_id: str
    scopes: tuple[str, ...]
    status: ApiKeyStatus
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    replaces: str | None
    replaced_by: str | None
    credential_id: str
    rotation: RotationPolicy = RotationPolicy()
    rotate_at: datetime | None = None
    generation: int = 0
    awaiting_pickup: bool = False


@dataclass(frozen=True)
class CreatedApiKey:
    """The key itself, returned once at creation or rotation, with its metadata."""

    key: str
    info: ApiKey


@dataclass(frozen=True)
class RotatedApiKey:
    """The successor (with its key, shown once) and the predecessor with its overlap end."""

    created: CreatedApiKey
    previous: ApiKey


@dataclass(frozen=True)
class VerifiedKey:
    """What a service learns about a valid key: whose it is and what it may do."""

    key_id: str
    identity: str
    identity_id: str
    scopes: tuple[str, ...]
    expires_at: datetime
