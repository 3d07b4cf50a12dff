"""Versioned KV request and response bodies; field descriptions become the OpenAPI docs.

Problem types a KV caller meets: `cas-mismatch` (409), `cas-required` (400), `secret-deleted`
(404, with `version` and `deleted_at`), `secret-destroyed` (410, with `version`), `not-found`
(404: no such path, or the version was pruned or never written), `payload-too-large` (413),
`invalid-path` (400)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict
from tessera.secrets.kv_models import (
    MAX_CUSTOM_KEYS,
    MAX_GENERATED_LENGTH,
    MAX_KEY_LENGTH,
    MAX_KEYS,
    MAX_MAX_VERSIONS,
    MAX_VALUE_BYTES,
    MAX_VERSIONS_PER_CALL,
    MIN_GENERATED_BITS,
    Alphabet,
)


class KvWriteOptions(Strict):
    """Write options."""

    cas: int | None = Field(
        None,
        ge=0,
        description="Check-and-set: 0 writes only if the path has no version yet; N only if "
        "the current version is N (else 409 cas-mismatch). Required when the path's metadata "
        "sets cas_required.",
    )


class KvWriteIn(Strict):
    """A new version of the secret at the path."""

    data: dict[str, Any] = Field(
        description=f"The secret: a JSON object of at most {MAX_KEYS} keys whose canonical "
        f"serialisation is at most {MAX_VALUE_BYTES} bytes (413 above)."
    )
    options: KvWriteOptions = Field(default_factory=KvWriteOptions, description="Options.")


class KvVersionOut(BaseModel):
    """One version's state (never its value)."""

    version: int = Field(description="Version number, from 1.")
    created_at: datetime = Field(description=TIME_DOC)
    deleted_at: datetime | None = Field(description="Soft-delete time (null = live). " + TIME_DOC)
    destroyed: bool = Field(description="The value was erased for good.")


class KvReadOut(BaseModel):
    """A version's data and state."""

    data: dict[str, Any] = Field(description="The secret's data as written.")
    metadata: KvVersionOut = Field(description="The version read.")
    custom_metadata: dict[str, str] = Field(description="The path's custom metadata.")


class KvVersionsIn(Strict):
    """Versions to delete, undelete or destroy."""

    versions: list[int] = Field(
        min_length=1,
        max_length=MAX_VERSIONS_PER_CALL,
        description="Version numbers; unknown ones are ignored.",
    )


class KvGenerator(Strict):
    """How scheduled (and on-demand) rotation regenerates one field of the secret; the other
    fields of the latest version are carried over. The previous version stays readable."""

    field: str = Field(
        min_length=1, max_length=MAX_KEY_LENGTH, description="The data key to regenerate."
    )
    length: int = Field(
        le=MAX_GENERATED_LENGTH,
        description=f"Characters; at least {MIN_GENERATED_BITS} bits of entropy (e.g. 22 "
        "alnum, 32 hex, 22 base64url).",
    )
    alphabet: Alphabet = Field(Alphabet.ALNUM, description="Characters drawn from.")


class KvMetadataIn(Strict):
    """Changes to a path's settings; absent fields stay as they are. Creates the path
    (without a version) if it does not exist."""

    max_versions: int | None = Field(
        None,
        ge=0,
        le=MAX_MAX_VERSIONS,
        description="Versions kept; older ones are deleted at the next write (or now, when "
        "lowered). 0 = the default, 10.",
    )
    cas_required: bool | None = Field(None, description="Every write must carry options.cas.")
    custom_metadata: dict[str, str] | None = Field(
        None,
        max_length=MAX_CUSTOM_KEYS,
        description=f"Replaces the map: at most {MAX_CUSTOM_KEYS} keys of 1-128 characters, "
        "values of at most 512. Not secret: shown in metadata and reads.",
    )
    owner: str | None = Field(
        None, max_length=255, description="Accountable team or person (inventory owner)."
    )
    rotation_period: Duration | None = Field(
        None, description="How often the secret should be rewritten; 0 clears. " + DURATION_DOC
    )
    generate: KvGenerator | None = Field(
        None,
        description="With rotation_period, the secret is rotated automatically once its latest "
        "version is a period old. Requires max_versions of 0 or at least 2.",
    )
    clear_generate: bool = Field(False, description="Remove the generator (stops rotation).")


class KvMetadataOut(BaseModel):
    """A path's settings, each kept version's state and its inventory facts."""

    path: str = Field(description="The secret's path.")
    current_version: int = Field(description="Newest version (0 = none written yet).")
    oldest_version: int = Field(description="Oldest version still kept (0 = none).")
    max_versions: int = Field(description="Versions kept (0 = the default, 10).")
    cas_required: bool = Field(description="Whether writes must carry options.cas.")
    custom_metadata: dict[str, str] = Field(description="Free-form string metadata.")
    owner: str | None = Field(description="Accountable team or person.")
    rotation_period: int | None = Field(description="Seconds between rotations (null = none).")
    generate: KvGenerator | None = Field(
        None, description="The generator used by rotation (null = none)."
    )
    rotation_due_at: datetime | None = Field(
        description="last_rotated_at + rotation_period. " + TIME_DOC
    )
    created_at: datetime = Field(description=TIME_DOC)
    updated_at: datetime = Field(description=TIME_DOC)
    versions: list[KvVersionOut] = Field(description="Kept versions, oldest first.")
    credential_id: str = Field(description="Inventory credential (kind static_secret).")
    last_rotated_at: datetime | None = Field(description="Time of the latest write. " + TIME_DOC)
    last_used_at: datetime | None = Field(
        description="Latest read, to within a minute. " + TIME_DOC
    )


class KvListOut(BaseModel):
    """Immediate children of a prefix, in byte order; folders end with '/'."""

    keys: list[str] = Field(description="Child names; 'x/' means more paths under x.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
