"""Versioned KV secrets as domain objects: path and value rules, typed requests and results,
and the errors a reader can meet (deleted, destroyed, cas required).

A path is 1-512 characters of `/`-separated segments; each segment is printable ASCII without
space, `\\`, `%`, `*`, `?`, `#`, and is neither `.` nor `..`. A value is a JSON object (string
keys, at most 1,000) whose canonical serialisation is at most 512 KiB."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tessera.barrier.aead import AAD
from tessera.core.clock import as_utc
from tessera.core.errors import InvalidPath, InvalidRequest, PayloadTooLarge, TesseraError
from tessera.core.randomness import Randomness
from tessera.core.text import check_text

MAX_PATH = 512
MAX_VALUE_BYTES = 512 * 1024
MAX_KEYS = 1000
MAX_KEY_LENGTH = 256
DEFAULT_MAX_VERSIONS = 10
MAX_MAX_VERSIONS = 1000
MAX_CUSTOM_KEYS = 64
MAX_CUSTOM_KEY = 128
MAX_CUSTOM_VALUE = 512
MAX_VERSIONS_PER_CALL = 1000
USAGE_INTERVAL = timedelta(seconds=60)  # last_used_at is written at most this often per path
MIN_GENERATED_BITS = 128
MAX_GENERATED_LENGTH = 1024
# The generator spec lives in the custom_metadata JSON under this key (no migration needed);
# it is hidden from custom_metadata as callers see it, and callers may not set it there.
GENERATE_KEY = "tessera:generate"
_SEGMENT = re.compile(r"[!-~]+")  # printable ASCII, no space
_SEGMENT_FORBIDDEN = frozenset("\\%*?#")


class SecretDeleted(TesseraError):
    """Raised when reading a version that was soft-deleted (undelete brings it back)."""

    status, slug, title = 404, "secret-deleted", "Secret version deleted"


class SecretDestroyed(TesseraError):
    """Raised when reading a version whose value was destroyed: gone for good."""

    status, slug, title = 410, "secret-destroyed", "Secret version destroyed"


class CasRequired(TesseraError):
    """Raised when a write omits `cas` on a path whose metadata sets `cas_required`."""

    status, slug, title = 400, "cas-required", "Check-and-set version required"


def validate_path(path: str, *, allow_empty: bool = False) -> str:
    """`path` unchanged when it is a well-formed KV path, else `InvalidPath` saying why.
    `allow_empty` admits "" (the root of a listing)."""
    if not isinstance(path, str):
        raise InvalidPath("a KV path must be a string")
    if path == "" and allow_empty:
        return path
    if not path or len(path) > MAX_PATH:
        raise InvalidPath(f"a KV path must be 1-{MAX_PATH} characters")
    if path.startswith("/") or path.endswith("/"):
        raise InvalidPath("a KV path must not start or end with '/'")
    for segment in path.split("/"):
        if not segment:
            raise InvalidPath("a KV path must not contain empty segments ('//')")
        if segment in (".", ".."):
            raise InvalidPath("a KV path must not contain '.' or '..' segments")
        if not _SEGMENT.fullmatch(segment) or any(c in _SEGMENT_FORBIDDEN for c in segment):
            raise InvalidPath(
                "KV path segments are printable ASCII without spaces, control characters "
                "or any of \\ % * ? #"
            )
    return path


def encode_value(data: Mapping[str, Any]) -> bytes:
    """The canonical serialisation (sorted keys, no spaces, UTF-8) of a secret's data, after
    checking its shape and size. Messages never quote a value."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("data must be a JSON object")
    if len(data) > MAX_KEYS:
        raise InvalidRequest(f"data may hold at most {MAX_KEYS} keys")
    for key in data:
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise InvalidRequest(f"data keys must be strings of 1-{MAX_KEY_LENGTH} characters")
    try:
        text = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (ValueError, TypeError):
        raise InvalidRequest("data must hold only JSON values (finite numbers)") from None
    except RecursionError:
        raise InvalidRequest("data is nested too deeply") from None
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_VALUE_BYTES:
        raise PayloadTooLarge(
            f"the serialised secret is {len(raw)} bytes; the limit is {MAX_VALUE_BYTES}"
        )
    return raw


def decode_value(raw: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw.decode("utf-8", "surrogatepass"))
    return value


def validate_versions(versions: tuple[int, ...]) -> tuple[int, ...]:
    if not versions:
        raise InvalidRequest("versions must name at least one version")
    if len(versions) > MAX_VERSIONS_PER_CALL:
        raise InvalidRequest(f"at most {MAX_VERSIONS_PER_CALL} versions per call")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in versions):
        raise InvalidRequest("versions must be positive integers")
    return tuple(sorted(set(versions)))


def validate_custom_metadata(meta: Mapping[str, str]) -> dict[str, str]:
    if len(meta) > MAX_CUSTOM_KEYS:
        raise InvalidRequest(f"custom_metadata may hold at most {MAX_CUSTOM_KEYS} keys")
    for key, value in meta.items():
        if key == GENERATE_KEY:
            raise InvalidRequest(f"custom_metadata key {GENERATE_KEY!r} is reserved")
        check_text(key, "custom_metadata keys", MAX_CUSTOM_KEY)
        check_text(value, f"custom_metadata[{key!r}]", MAX_CUSTOM_VALUE, allow_empty=True)
    return dict(meta)


class Alphabet(StrEnum):
    """Characters a generated value is drawn from."""

    ALNUM = "alnum"
    ALNUM_SYMBOLS = "alnum-symbols"
    HEX = "hex"
    BASE64URL = "base64url"


_CHARS = {
    Alphabet.ALNUM: string.ascii_letters + string.digits,
    Alphabet.ALNUM_SYMBOLS: string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~",
    Alphabet.HEX: "0123456789abcdef",
    Alphabet.BASE64URL: string.ascii_letters + string.digits + "-_",
}


def to_alphabet(value: str) -> Alphabet:
    try:
        return Alphabet(value)
    except ValueError:
        names = ", ".join(a.value for a in Alphabet)
        raise InvalidRequest(f"generate.alphabet must be one of {names}") from None


@dataclass(frozen=True)
class GeneratorSpec:
    """How rotation regenerates one field: `length` characters of `alphabet`, at least
    MIN_GENERATED_BITS bits of entropy. Text form (CLI, storage): `field:length:alphabet`."""

    field: str
    length: int
    alphabet: Alphabet

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not 1 <= len(self.field) <= MAX_KEY_LENGTH:
            raise InvalidRequest(f"generate.field must be 1-{MAX_KEY_LENGTH} characters")
        object.__setattr__(self, "alphabet", to_alphabet(self.alphabet))
        size = len(_CHARS[self.alphabet])
        shortest = math.ceil(MIN_GENERATED_BITS / math.log2(size))
        if isinstance(self.length, bool) or not isinstance(self.length, int):
            raise InvalidRequest("generate.length must be an integer")
        if not shortest <= self.length <= MAX_GENERATED_LENGTH:
            raise InvalidRequest(
                f"generate.length for {self.alphabet.value} must be {shortest}-"
                f"{MAX_GENERATED_LENGTH} ({MIN_GENERATED_BITS} bits at least)"
            )

    @classmethod
    def parse(cls, text: str) -> GeneratorSpec:
        """From `field:length:alphabet` (the field may itself contain ':')."""
        field, _, rest = text.rpartition(":")
        field, _, length = field.rpartition(":")
        if not field or not length.isdigit():
            raise InvalidRequest("generate must look like field:length:alphabet")
        return cls(field, int(length), to_alphabet(rest))

    def encode(self) -> str:
        return f"{self.field}:{self.length}:{self.alphabet.value}"

    def generate(self, rng: Randomness) -> str:
        """A fresh value; bytes that would bias the draw are rejected, not folded."""
        chars = _CHARS[self.alphabet]
        limit = 256 - 256 % len(chars)
        out: list[str] = []
        while len(out) < self.length:
            for b in rng.token_bytes(self.length * 2):
                if b < limit:
                    out.append(chars[b % len(chars)])
                    if len(out) == self.length:
                        break
        return "".join(out)


def generator_of(stored: Mapping[str, str] | None) -> GeneratorSpec | None:
    """The generator kept in a stored custom_metadata map, if any."""
    text = (stored or {}).get(GENERATE_KEY)
    return GeneratorSpec.parse(text) if text else None


def public_metadata(stored: Mapping[str, str] | None) -> dict[str, str]:
    """A stored custom_metadata map as callers see it (reserved keys removed)."""
    return {k: v for k, v in (stored or {}).items() if k != GENERATE_KEY}


@dataclass(frozen=True)
class WriteRequest:
    """Write `data` as the next version; `cas` None = unconditional, 0 = only if no version
    exists yet, N = only if the current version is N."""

    path: str
    data: Mapping[str, Any]
    cas: int | None = None


@dataclass(frozen=True)
class MetadataUpdate:
    """Changes to a path's metadata; None leaves a field as it is. `max_versions` 0 means the
    default (10); `rotation_period` of zero clears it; `custom_metadata` replaces the map;
    `clear_generate` removes the generator (it may not be combined with `generate`)."""

    max_versions: int | None = None
    cas_required: bool | None = None
    custom_metadata: Mapping[str, str] | None = None
    owner: str | None = None
    rotation_period: timedelta | None = None
    generate: GeneratorSpec | None = None
    clear_generate: bool = False

    def __post_init__(self) -> None:
        if self.max_versions is not None and not 0 <= self.max_versions <= MAX_MAX_VERSIONS:
            raise InvalidRequest(f"max_versions must be between 0 and {MAX_MAX_VERSIONS}")
        if self.custom_metadata is not None:
            validate_custom_metadata(self.custom_metadata)
        if self.generate is not None and self.clear_generate:
            raise InvalidRequest("generate and clear_generate exclude each other")


@dataclass(frozen=True)
class VersionInfo:
    """One version's state; `destroyed` versions have no value any more."""

    version: int
    created_at: datetime
    deleted_at: datetime | None
    destroyed: bool

    @classmethod
    def stored(
        cls, version: int, created_at: datetime, deleted_at: datetime | None, destroyed: bool
    ) -> VersionInfo:
        """From stored columns (some drivers return naive UTC datetimes)."""
        return cls(version, as_utc(created_at), as_utc(deleted_at) if deleted_at else None,
                   destroyed)  # fmt: skip


@dataclass(frozen=True)
class SecretValue:
    """A version's data with its state and the path's custom metadata."""

    path: str
    data: Mapping[str, Any]
    version: VersionInfo
    custom_metadata: Mapping[str, str]


@dataclass(frozen=True)
class Metadata:
    """A path's settings, every kept version's state and its inventory facts."""

    path: str
    current_version: int
    oldest_version: int
    max_versions: int
    cas_required: bool
    custom_metadata: Mapping[str, str]
    owner: str | None
    rotation_period: timedelta | None
    created_at: datetime
    updated_at: datetime
    versions: tuple[VersionInfo, ...]
    credential_id: str
    last_rotated_at: datetime | None
    last_used_at: datetime | None
    generate: GeneratorSpec | None = None

    @property
    def rotation_due_at(self) -> datetime | None:
        if self.rotation_period is None or self.last_rotated_at is None:
            return None
        return self.last_rotated_at + self.rotation_period


@dataclass(frozen=True)
class KeyList:
    """Immediate children of a prefix (folders end with '/'), in path order, one page."""

    keys: tuple[str, ...]
    next_cursor: str | None


def fingerprint(path: str) -> str:
    """The inventory fingerprint of a KV path: stable, and nothing secret."""
    return "kv:" + hashlib.sha256(path.encode()).hexdigest()


def value_aad(path: str, version: int) -> AAD:
    """Binds a sealed value to its path and version: a ciphertext moved to another row fails."""
    return AAD("kv_versions", f"{path}#{version}", "value")


class UsageThrottle:
    """Which reads to record in last_used_at: the first one per credential in each
    USAGE_INTERVAL, as this node saw them (memory bounded; forgetting only costs a write)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._recorded: dict[str, datetime] = {}

    def due(self, credential_id: str, now: datetime) -> bool:
        last = self._recorded.get(credential_id)
        if last is not None and now - last < USAGE_INTERVAL:
            return False
        if len(self._recorded) >= self._max:
            self._recorded = {}
        self._recorded[credential_id] = now
        return True

    def forget(self, credential_id: str) -> None:
        self._recorded.pop(credential_id, None)


def effective_max_versions(configured: int) -> int:
    return configured or DEFAULT_MAX_VERSIONS


# -- listing -------------------------------------------------------------------------------------
# fetch(lower, inclusive, upper, n): up to n paths >= lower (> when not inclusive) and < upper
# (no bound when None), in byte order.
Fetch = Callable[[str, bool, str | None, int], list[str]]


def list_children(fetch: Fetch, prefix: str, after: str | None, limit: int) -> KeyList:
    """One page of the immediate children of `prefix` after the child `after`. A folder's
    descendants are contiguous in byte order, so past a folder the next read starts at
    `<folder>0` ('0' follows '/') instead of walking its subtree."""
    base = f"{prefix}/" if prefix else ""
    if after is None:
        lower, inclusive = base, True
    elif after.endswith("/"):
        lower, inclusive = base + after[:-1] + "0", True
    else:
        lower, inclusive = base + after, False
    upper = f"{prefix}0" if prefix else None
    batch = min(limit + 1, 1000)
    keys: list[str] = []
    while len(keys) <= limit:
        rows = fetch(lower, inclusive, upper, batch)
        for path in rows:
            segment, slash, _ = path[len(base) :].partition("/")
            child = segment + slash
            if not keys or keys[-1] != child:
                keys.append(child)
                if len(keys) > limit:
                    break
            lower, inclusive = (base + segment + "0", True) if slash else (path, False)
        if len(rows) < batch:
            break
    more = len(keys) > limit
    return KeyList(tuple(keys[:limit]), encode_cursor(keys[limit - 1]) if more else None)


def encode_cursor(child: str) -> str:
    return base64.urlsafe_b64encode(child.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The child name a cursor carries: one valid segment, '/' at the end for a folder."""
    if not cursor:
        return None
    try:
        if len(cursor) > 1024:
            raise ValueError(cursor)
        child = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if "/" in validate_path(child.removesuffix("/")):
            raise ValueError(cursor)
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidPath):
        raise InvalidRequest("cursor is not valid") from None
    return child
