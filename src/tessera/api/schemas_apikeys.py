"""API key request and response bodies; field descriptions become the OpenAPI docs.

Problem types an API key caller meets: `invalid-api-key` (401, from verify: the key is wrong,
unknown, expired, revoked or malformed, never saying which), `not-found` (404: no such key id),
`conflict` (409: rotating a revoked, expired or already rotated key; an identity that is
decommissioned; a successor pickup when nothing waits), `invalid-request` (400: scopes, ttl,
overlap or rotate_every out of bounds),
`permission-denied` (403)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict
from tessera.apikeys.models import MAX_SCOPES

SCOPES_DOC = (
    f"At most {MAX_SCOPES} scopes, each 1-3 segments joined by ':' of lower-case letters, "
    "digits, '_', '.', '-' (e.g. 'orders:read'). Tessera does not interpret them: the service "
    "that verifies the key does."
)
ROTATE_EVERY_DOC = (
    "Scheduled rotation: every so long (1m-366d) after the key was made the server makes a "
    "successor, kept sealed until picked up once (`POST /v1/apikeys/successor` with the old key, "
    "or `POST /v1/apikeys/{id}/pickup`). Null: never. " + DURATION_DOC
)
POLICY_OVERLAP_DOC = (
    "How long the old key keeps working after a scheduled rotation, and so the time to pick up "
    "the successor: above 0, at most 30d (default 24h). " + DURATION_DOC
)


class ApiKeyCreateIn(Strict):
    """A new API key for an identity (policy: `create` on `apikeys/keys/<identity>`)."""

    identity: str = Field(max_length=255, description="Name of the active identity it belongs to.")
    scopes: list[str] = Field(default_factory=list, description=SCOPES_DOC)
    ttl: Duration | None = Field(
        None, description=f"Lifetime, 1m-366d (default 90d, cut to the policy's max_ttl). "
        f"{DURATION_DOC}"
    )  # fmt: skip
    name: str | None = Field(
        None, max_length=255, description="Display name (default '<identity> api key')."
    )
    rotate_every: Duration | None = Field(None, description=ROTATE_EVERY_DOC)
    overlap: Duration | None = Field(None, description=POLICY_OVERLAP_DOC)


class ApiKeyPolicyIn(Strict):
    """A key's rotation policy, replaced as a whole (policy: `update` on the key's path)."""

    rotate_every: Duration | None = Field(None, description=ROTATE_EVERY_DOC)
    overlap: Duration | None = Field(None, description=POLICY_OVERLAP_DOC)


class ApiKeySuccessorIn(Strict):
    """The old key, proving possession, to collect its scheduled successor once."""

    key: str = Field(
        description="The old API key (`tsk_…`), still within its overlap. A key that is not "
        "valid gets the 401 `invalid-api-key` answer; when nothing waits, 409 `conflict`."
    )


class ApiKeyRotateIn(Strict):
    """A successor key (policy: `update` on `apikeys/keys/<identity>/<key id>`)."""

    overlap: Duration | None = Field(
        None,
        description="How long the old key keeps working, 0-30d (default 24h; 0 stops it at "
        f"once). Never past its own expiry. {DURATION_DOC}",
    )
    ttl: Duration | None = Field(
        None, description=f"The new key's lifetime (default: the old key's). {DURATION_DOC}"
    )


class ApiKeyVerifyIn(Strict):
    """A key presented to a service (policy: `update` on `apikeys/verify`)."""

    key: str = Field(
        description="The API key as presented (`tsk_…`). Anything that is not exactly a "
        "valid key gets the same 401 `invalid-api-key` answer."
    )


class ApiKeyOut(BaseModel):
    """An API key's properties: never the key or its hash."""

    id: str = Field(description="Public key id (11 characters; also inside the key).")
    name: str = Field(description="Display name.")
    identity: str = Field(description="Name of the identity the key belongs to.")
    identity_id: str = Field(description="Id of that identity.")
    scopes: list[str] = Field(description="Scopes granted to the key's holder.")
    status: str = Field(
        description="active; superseded (rotated, works until expires_at); expired; revoked."
    )
    created_at: datetime = Field(description="Creation time. " + TIME_DOC)
    expires_at: datetime = Field(
        description="When the key stops working (the overlap's end once rotated). " + TIME_DOC
    )
    revoked_at: datetime | None = Field(description="Revocation time, if revoked. " + TIME_DOC)
    last_used_at: datetime | None = Field(
        description="Last successful verification, written at most once a minute. " + TIME_DOC
    )
    replaces: str | None = Field(description="Id of the key this one was rotated from.")
    replaced_by: str | None = Field(description="Id of the key this one was rotated to.")
    credential_id: str = Field(description="The key's credential in the inventory.")
    rotate_every_seconds: int | None = Field(
        None, description="Scheduled rotation period in seconds; null = never."
    )
    overlap_seconds: int | None = Field(
        None, description="Overlap of scheduled rotations in seconds; null = the default (24h)."
    )
    rotate_at: datetime | None = Field(None, description="Next scheduled rotation. " + TIME_DOC)
    generation: int = Field(0, description="Rotations from the first key of this chain.")
    awaiting_pickup: bool = Field(
        False, description="A scheduled successor's key is waiting sealed for its one pickup."
    )


class ApiKeyCreatedOut(BaseModel):
    """A new key and its properties; the key is shown only in this response."""

    key: str = Field(description="The API key. Shown once; Tessera keeps only a keyed hash.")
    info: ApiKeyOut = Field(description="The new key's properties.")


class ApiKeyRotatedOut(BaseModel):
    """The successor (its key shown only here) and the old key with its new expiry."""

    key: str = Field(description="The new API key. Shown once.")
    info: ApiKeyOut = Field(description="The new key's properties.")
    previous: ApiKeyOut = Field(description="The old key, superseded, working until expires_at.")


class ApiKeyPageOut(BaseModel):
    """One page of keys, ordered by id. Keys the caller may not read are left out, so a page
    can hold fewer than `limit` items, even none, and still have a next page."""

    items: list[ApiKeyOut] = Field(description="The keys on this page.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null = this is the last page."
    )


class ApiKeyVerifiedOut(BaseModel):
    """A valid key: whose it is and what it may do."""

    key_id: str = Field(description="The key's public id.")
    identity: str = Field(description="Name of the identity the key belongs to.")
    identity_id: str = Field(description="Id of that identity.")
    scopes: list[str] = Field(description="Scopes granted to the key's holder.")
    expires_at: datetime = Field(description="When the key stops working. " + TIME_DOC)
