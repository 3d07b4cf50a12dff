"""Request and response bodies. Field descriptions become the OpenAPI documentation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Duration = str | int
DURATION_DOC = "Seconds, or a duration such as '90m', '24h', '30d'."


# -- sys ---------------------------------------------------------------------------------------
class InitIn(Strict):
    secret_shares: int = Field(5, ge=1, le=255, description="Number of unseal shares to create.")
    secret_threshold: int = Field(3, ge=1, le=255, description="Shares needed to unseal.")


class InitOut(BaseModel):
    keys: list[str] = Field(description="Unseal shares (base64). Shown once; store apart.")
    secret_threshold: int
    root_token: str = Field(description="Initial root token. Shown once; revoke after setup.")


class UnsealIn(Strict):
    key: str | None = Field(None, max_length=2048, description="One unseal share (base64).")
    reset: bool = Field(False, description="Discard the shares submitted so far.")


class SealStatusOut(BaseModel):
    type: str | None = Field(description="Seal type: 'shamir'.")
    initialized: bool
    sealed: bool
    t: int = Field(description="Threshold: shares needed.")
    n: int = Field(description="Total shares.")
    progress: int = Field(description="Shares submitted towards the next unseal.")
    keyring_version: int | None = Field(description="Active data-key version (when unsealed).")
    version: str


class HealthOut(BaseModel):
    initialized: bool
    sealed: bool
    database: bool = Field(description="Whether the database answered.")
    audit: bool = Field(description="Whether an audit sink can write.")
    version: str
    server_time: datetime


class RotateOut(BaseModel):
    keyring_version: int


# -- tokens ------------------------------------------------------------------------------------
class TokenCreateIn(Strict):
    policies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Policies; a subset of the caller's unless root.",
    )
    ttl: Duration | None = Field(None, description="Initial time to live. " + DURATION_DOC)
    explicit_max_ttl: Duration | None = Field(None, description="Hard cap. " + DURATION_DOC)
    display_name: str = Field("token", max_length=256)
    renewable: bool = True
    identity: str | None = Field(
        None, max_length=255, description="Identity name to bind the token to."
    )
    meta: dict[str, str] = Field(default_factory=dict, description="Free-form string metadata.")
    no_default_policy: bool = Field(False, description="Do not attach the 'default' policy.")


class TokenOut(BaseModel):
    accessor: str = Field(description="Public handle to manage the token without knowing it.")
    policies: list[str]
    display_name: str
    identity_id: str | None
    meta: dict[str, str]
    renewable: bool
    ttl: int = Field(description="Seconds left before expiry (0 = never expires).")
    creation_ttl: int
    created_at: datetime
    expires_at: datetime | None
    max_expires_at: datetime | None
    parent_accessor: str | None
    revoked: bool


class TokenCreatedOut(BaseModel):
    token: str = Field(description="The token. Shown once; Tessera keeps only a keyed hash.")
    info: TokenOut


class TokenRefIn(Strict):
    token: str = Field(max_length=256)


class AccessorIn(Strict):
    accessor: str = Field(max_length=64)


class RenewIn(Strict):
    token: str | None = Field(None, max_length=256)
    accessor: str | None = Field(None, max_length=64)
    increment: Duration | None = Field(None, description="Requested extension. " + DURATION_DOC)


class RevokedOut(BaseModel):
    revoked: int = Field(description="Tokens revoked now, children included.")


# -- policies ----------------------------------------------------------------------------------
class PolicyRuleIO(Strict):
    path: str = Field(max_length=1024, description="Path pattern; '+' one segment, '*' suffix.")
    capabilities: list[str] = Field(
        max_length=7, description="create read update delete list sudo deny"
    )
    constraints: dict[str, Any] = Field(
        default_factory=dict, description="Limits the service applies, e.g. max_ttl."
    )


class PolicyIn(Strict):
    description: str = Field("", max_length=1024)
    rules: list[PolicyRuleIO] = Field(max_length=500)


class PolicyOut(BaseModel):
    name: str
    description: str
    rules: list[PolicyRuleIO]


class NamesOut(BaseModel):
    names: list[str]


# -- identities and inventory ------------------------------------------------------------------
class IdentityIn(Strict):
    name: str = Field(max_length=255, description="Unique name of the non-human actor.")
    owner: str = Field(max_length=255, description="Accountable team or person (required).")
    kind: str = Field("workload", description="workload, service_account, device, pipeline, bot")
    environment: str = Field("default", max_length=64)
    labels: dict[str, str] = Field(default_factory=dict)
    spiffe_id: str | None = Field(None, max_length=2048)


class IdentityPatch(Strict):
    owner: str | None = Field(None, max_length=255)
    environment: str | None = Field(None, max_length=64)
    labels: dict[str, str] | None = None


class IdentityOut(BaseModel):
    id: str
    name: str
    kind: str
    owner: str
    environment: str
    labels: dict[str, str]
    spiffe_id: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    decommissioned_at: datetime | None


class IdentityPageOut(BaseModel):
    items: list[IdentityOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class DecommissionOut(BaseModel):
    identity: IdentityOut
    revoked_credentials: int


class LocationOut(BaseModel):
    kind: str
    location: str
    first_seen_at: datetime
    last_seen_at: datetime


class CredentialOut(BaseModel):
    id: str
    kind: str
    fingerprint: str
    name: str
    identity_id: str | None
    owner: str | None
    source: str
    status: str
    issued_at: datetime | None
    not_after: datetime | None
    last_used_at: datetime | None
    last_rotated_at: datetime | None
    attributes: dict[str, Any]
    locations: list[LocationOut] = Field(default_factory=list)


class CredentialPageOut(BaseModel):
    items: list[CredentialOut]
    next_cursor: str | None
