"""API key request and response bodies; field descriptions become the OpenAPI docs.

Problem types an API key caller meets: `invalid-api-key` (401, from verify: the key is wrong,
unknown, expired, revoked or malformed, never saying which), `not-found` (404: no such key id),
`conflict` (409: rotating a revoked, expired or already rotated key; an identity that is
decommissioned), `invalid-request` (400: scopes, ttl or overlap out of bounds),
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
