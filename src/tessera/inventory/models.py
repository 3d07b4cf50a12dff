"""Identities (non-human actors) and credentials (the inventory spine) as domain objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from cryptography.x509 import ObjectIdentifier
from cryptography.x509.oid import SignatureAlgorithmOID

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
    key_type: str | None = None
    key_bits: int | None = None
    signature_algorithm: str | None = None


@dataclass(frozen=True)
class CredentialSummary:
    """A credential with what an export shows beside it: its identity's name and environment,
    how many places it was seen in, and the first and last time it was seen anywhere."""

    credential: Credential
    identity_name: str | None
    environment: str | None
    location_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None


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


class CredentialSort(StrEnum):
    """Listing order: `id` (creation order) or `expiry` (soonest first; none last)."""

    ID = "id"
    EXPIRY = "expiry"


class SearchMatch(StrEnum):
    """How `q` matches a credential's names: the whole name, or its beginning."""

    PREFIX = "prefix"
    EXACT = "exact"


MAX_Q = 255
MAX_KEY_BITS = 65536


@dataclass(frozen=True)
class CredentialQuery:
    """Filters, search and keyset paging for listing credentials; None filters nothing.
    Every value is checked on construction (a bad one raises InvalidRequest naming the field).
    `q` matches, case-insensitively, a name, fingerprint, subject, subject CN, SAN or
    principal; `label` is the identity's (key, value)."""

    kind: CredentialKind | None = None
    source: CredentialSource | None = None
    owner: str | None = None
    identity: str | None = None
    status: CredentialStatus | None = None
    expiring_within: timedelta | None = None
    environment: str | None = None
    label: tuple[str, str] | None = None
    key_type: str | None = None
    key_bits: int | None = None
    signature_algorithm: str | None = None
    q: str | None = None
    match: SearchMatch = SearchMatch.PREFIX
    sort: CredentialSort = CredentialSort.ID
    limit: int = 100
    cursor: str | None = None

    def __post_init__(self) -> None:
        if self.owner is not None:
            check_text(self.owner, "owner")
        if self.identity is not None:
            validate_name(self.identity, "identity")
        if self.environment is not None:
            validate_name(self.environment, "environment")
        if self.label is not None:
            key, value = self.label
            if not LABEL_KEY_RE.fullmatch(key):
                raise InvalidRequest("label must be key=value with a valid label key")
            check_text(value, "label value", allow_empty=True)
        if self.key_type is not None:
            object.__setattr__(self, "key_type", parse_key_type(self.key_type))
        if self.key_bits is not None and not 1 <= self.key_bits <= MAX_KEY_BITS:
            raise InvalidRequest(f"key_bits must be between 1 and {MAX_KEY_BITS}")
        if self.signature_algorithm is not None:
            object.__setattr__(
                self, "signature_algorithm", parse_signature_algorithm(self.signature_algorithm)
            )
        if self.q is not None:
            check_text(self.q, "q", MAX_Q)
            if not self.q.strip():
                raise InvalidRequest("q must not be blank")
            object.__setattr__(self, "q", self.q.strip().lower())
        if self.expiring_within is not None and self.expiring_within.total_seconds() <= 0:
            raise InvalidRequest("expiring_within must be a positive duration")


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


# -- facts promoted to indexed columns, and the names a credential is searched by -----------
class KeyAlgorithm(StrEnum):
    """Public-key algorithm families, as the `key_type` column holds them."""

    RSA = "rsa"
    EC = "ec"
    ED25519 = "ed25519"
    ED448 = "ed448"
    DSA = "dsa"
    X25519 = "x25519"
    X448 = "x448"


# What scanners and OpenSSH call the same families ("RSA", "EC secp256r1", "ssh-ed25519").
_KEY_ALIASES = {
    "ssh-rsa": "rsa",
    "ssh-dss": "dsa",
    "ssh-ed25519": "ed25519",
    "ssh-ed448": "ed448",
    "ecdsa": "ec",
}


def _signature_aliases() -> dict[str, str]:
    """Every spelling in use (PKI 'rsa-with-sha256', scanners 'rsa_with_sha256' and
    'sha256WithRSAEncryption', a dotted OID) mapped to one canonical lower-case name."""
    out: dict[str, str] = {}
    for attr, oid in vars(SignatureAlgorithmOID).items():
        if isinstance(oid, ObjectIdentifier):
            canonical = attr.lower().replace("_", "-")
            for alias in (canonical, attr.lower(), oid.dotted_string):
                out[alias] = canonical
            dotted_name = getattr(oid, "_name", "")
            if isinstance(dotted_name, str) and dotted_name and dotted_name != "Unknown OID":
                out[dotted_name.lower()] = canonical
    return out


SIGNATURE_ALGORITHMS = _signature_aliases()
_OID_RE = re.compile(r"^[0-2](\.[0-9]{1,20}){1,30}$")


def normal_key_type(value: str) -> str:
    """The family of a key type as recorded by any domain; unknown ones kept lower-cased."""
    first = value.strip().lower().split(" ", 1)[0]
    if first.startswith("ecdsa-sha2-"):
        return KeyAlgorithm.EC.value
    return _KEY_ALIASES.get(first, first)[:32]


def normal_signature_algorithm(value: str) -> str:
    lowered = value.strip().lower()
    return SIGNATURE_ALGORITHMS.get(lowered, lowered.replace("_", "-"))[:64]


def parse_key_type(value: str) -> str:
    """A `key_type` filter value; 400 unless it names a known family."""
    normal = normal_key_type(value)
    if normal not in {k.value for k in KeyAlgorithm}:
        allowed = ", ".join(k.value for k in KeyAlgorithm)
        raise InvalidRequest(f"key_type must be one of: {allowed}")
    return normal


def parse_signature_algorithm(value: str) -> str:
    """A `signature_algorithm` filter value: a known name in any usual spelling, or an OID."""
    lowered = value.strip().lower()
    if lowered in SIGNATURE_ALGORITHMS:
        return SIGNATURE_ALGORITHMS[lowered]
    if _OID_RE.fullmatch(lowered):
        return lowered
    raise InvalidRequest(
        "signature_algorithm must be a known algorithm (e.g. rsa-with-sha256, "
        "ecdsa-with-sha256, ed25519) or a dotted OID"
    )


@dataclass(frozen=True)
class KeyFacts:
    """The key facts of a credential, from its attributes, as the indexed columns hold them."""

    key_type: str | None
    key_bits: int | None
    signature_algorithm: str | None


def key_facts(attributes: Mapping[str, Any]) -> KeyFacts:
    key_type = attributes.get("key_type") or attributes.get("ssh_key_type")
    bits = attributes.get("key_bits", attributes.get("key_size"))
    sig = attributes.get("signature_algorithm")
    return KeyFacts(
        key_type=normal_key_type(key_type) if isinstance(key_type, str) and key_type else None,
        key_bits=(
            bits
            if isinstance(bits, int) and not isinstance(bits, bool) and 0 < bits <= 1 << 20
            else None
        ),
        signature_algorithm=normal_signature_algorithm(sig) if isinstance(sig, str) else None,
    )


MAX_SEARCH_NAMES = 100
_CN_RE = re.compile(r"(?:^|,)\s*CN=((?:\\.|[^,\\])*)", re.IGNORECASE)
_SAN_PREFIX_RE = re.compile(r"^(?:DNS|IP|URI|email):", re.IGNORECASE)


def search_names(rec: RecordCredential) -> set[str]:
    """The lower-cased names `q` finds a credential by: name, fingerprint, subject (whole and
    its CNs), SANs (without their 'DNS:'-style prefix) and principals; at most 100."""
    found = [rec.name, rec.fingerprint]
    attrs = rec.attributes
    subject = attrs.get("subject")
    if isinstance(subject, str):
        found.append(subject)
        found += [re.sub(r"\\(.)", r"\1", cn) for cn in _CN_RE.findall(subject)]
    cn = attrs.get("subject_cn")
    if isinstance(cn, str):
        found.append(cn)
    for key in ("sans", "principals"):
        values = attrs.get(key)
        if isinstance(values, list | tuple):
            found += [_SAN_PREFIX_RE.sub("", v) for v in values if isinstance(v, str)]
    out: set[str] = set()
    for name in found:
        normal = name.strip().lower()[:MAX_Q]
        if normal:
            out.add(normal)
            if len(out) == MAX_SEARCH_NAMES:
                break
    return out
