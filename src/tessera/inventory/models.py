"""Identities (non-human actors) and credentials (the inventory spine) as domain objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text


class IdentityKind(StrEnum):
    """What sort of non-human actor an identity is."""

    WORKLOAD = "workload"
    SERVICE_ACCOUNT = "service_account"
    DEVICE = "device"
    PIPELINE = "pipeline"
    BOT = "bot"
    OPERATOR = "operator"


class IdentityStatus(StrEnum):
    """Identity lifecycle; `decommissioned` is final."""

    ACTIVE = "active"
    DECOMMISSIONED = "decommissioned"


class CredentialKind(StrEnum):
    """Every kind of machine credential; later domains add rows of their kind, not new tables."""

    TESSERA_TOKEN = "tessera_token"
    X509_CERTIFICATE = "x509_certificate"
    SSH_CERTIFICATE = "ssh_certificate"
    SSH_KEY = "ssh_key"
    PRIVATE_KEY = "private_key"
    API_KEY = "api_key"
    OAUTH_CLIENT = "oauth_client"
    OAUTH_TOKEN = "oauth_token"
    STATIC_SECRET = "static_secret"
    DYNAMIC_LEASE = "dynamic_lease"
    SPIFFE_SVID = "spiffe_svid"
    LEAKED_SECRET = "leaked_secret"


class CredentialSource(StrEnum):
    """`managed`: issued by Tessera; `discovered`: found elsewhere and recorded."""

    MANAGED = "managed"
    DISCOVERED = "discovered"


class CredentialStatus(StrEnum):
    """Stored credential status; `expired` is only a query filter."""

    ACTIVE = "active"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"  # a query filter: active with not_after in the past


class LocationKind(StrEnum):
    """Where a credential was issued or found."""

    ISSUED = "issued"
    FILE = "file"
    GIT = "git"
    ENDPOINT = "endpoint"


# Printable ASCII without whitespace and without what paths and globs give meaning to
# (/ \ % * + ? #): names are stored verbatim, even SQL-looking ones, and never interpolated.
NAME_RE = re.compile(r"^[A-Za-z0-9][!-~]{0,254}$")
_NAME_FORBIDDEN = frozenset("/\\%*+?#")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
MAX_LABELS = 64


def validate_name(name: str, what: str = "name") -> str:
    if not NAME_RE.fullmatch(name) or any(c in _NAME_FORBIDDEN for c in name):
        raise InvalidRequest(
            f"{what} must be 1-255 printable characters without spaces or / \\ % * + ? #, "
            "starting with a letter or digit"
        )
    return name


def validate_owner(owner: str) -> str:
    stripped = owner.strip()
    if not stripped:
        raise InvalidRequest("owner is required: a team or person, 1-255 printable characters")
    return check_text(stripped, "owner")


def validate_labels(labels: Mapping[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidRequest(f"at most {MAX_LABELS} labels")
    for key, value in labels.items():
        if not LABEL_KEY_RE.fullmatch(key):
            raise InvalidRequest(f"label key {key!r} is not valid")
        check_text(value, f"label {key!r}", allow_empty=True)
    return dict(labels)


@dataclass(frozen=True)
class Identity:
    """A non-human actor with an accountable owner; `id` is a ULID, `name` is unique."""

    id: str
    name: str
    kind: IdentityKind
    owner: str
    environment: str
    labels: Mapping[str, str]
    spiffe_id: str | None
    status: IdentityStatus
    created_at: datetime
    updated_at: datetime
    decommissioned_at: datetime | None


@dataclass(frozen=True)
class Location:
    """One place a credential was seen, with the first and last time it was seen there."""

    kind: LocationKind
    location: str
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Credential:
    """One inventory row: metadata of a credential, never its secret."""

    id: str
    kind: CredentialKind
    fingerprint: str
    name: str
    identity_id: str | None
    owner: str | None
    source: CredentialSource
    status: CredentialStatus
    issued_at: datetime | None
    not_after: datetime | None
    last_used_at: datetime | None
    last_rotated_at: datetime | None
    attributes: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    locations: tuple[Location, ...] = ()


@dataclass(frozen=True)
class CreateIdentityRequest:
    """A new identity; the service validates every field."""

    name: str
    owner: str
    kind: IdentityKind = IdentityKind.WORKLOAD
    environment: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)
    spiffe_id: str | None = None


@dataclass(frozen=True)
class UpdateIdentityRequest:
    """Changes to an identity; None leaves a field as it is."""

    owner: str | None = None
    environment: str | None = None
    labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class IdentityQuery:
    """Filters and keyset paging for listing identities; None filters nothing."""

    kind: IdentityKind | None = None
    owner: str | None = None
    environment: str | None = None
    status: IdentityStatus | None = None
    label: tuple[str, str] | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class CredentialQuery:
    """Filters and keyset paging for listing credentials; None filters nothing."""

    kind: CredentialKind | None = None
    source: CredentialSource | None = None
    owner: str | None = None
    identity: str | None = None
    status: CredentialStatus | None = None
    expiring_within: timedelta | None = None
    limit: int = 100
    cursor: str | None = None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; `next_cursor` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class RecordCredential:
    """What an issuing or discovering domain tells the inventory about one credential."""

    kind: CredentialKind
    fingerprint: str
    name: str
    source: CredentialSource
    identity_id: str | None = None
    owner: str | None = None
    issued_at: datetime | None = None
    not_after: datetime | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    location: tuple[LocationKind, str] | None = None
