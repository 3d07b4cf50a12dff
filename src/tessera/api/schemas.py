"""Request and response bodies. Field descriptions become the OpenAPI documentation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """Base for request bodies: unknown fields are refused (400), never silently ignored."""

    model_config = ConfigDict(extra="forbid")


Duration = str | int
DURATION_DOC = "Seconds, or a duration such as '90m', '24h', '30d'."
TIME_DOC = "RFC 3339, UTC."


# -- sys ---------------------------------------------------------------------------------------
class InitIn(Strict):
    """Initialize Tessera: split a new root key into unseal shares. Refused once initialized."""

    secret_shares: int = Field(5, ge=1, le=255, description="Number of unseal shares to create.")
    secret_threshold: int = Field(3, ge=1, le=255, description="Shares needed to unseal.")


class InitOut(BaseModel):
    """The unseal shares and the initial root token, returned once and never shown again."""

    keys: list[str] = Field(description="Unseal shares (base64). Shown once; store apart.")
    secret_threshold: int = Field(description="Shares needed to unseal.")
    root_token: str = Field(description="Initial root token. Shown once; revoke after setup.")


class UnsealIn(Strict):
    """One unseal share, or a reset of the shares submitted so far."""

    key: str | None = Field(None, max_length=2048, description="One unseal share (base64).")
    reset: bool = Field(False, description="Discard the shares submitted so far.")


class SealStatusOut(BaseModel):
    """Whether Tessera is initialized and sealed, and how far an unseal has progressed."""

    type: str | None = Field(description="Seal type: 'shamir'.")
    initialized: bool = Field(description="Whether Tessera has been initialized.")
    sealed: bool = Field(
        description="Whether the keys are out of memory; sealed, only status and unseal answer."
    )
    t: int = Field(description="Threshold: shares needed.")
    n: int = Field(description="Total shares.")
    progress: int = Field(description="Shares submitted towards the next unseal.")
    keyring_version: int | None = Field(description="Active data-key version (when unsealed).")
    version: str = Field(description="Tessera server version.")


class HealthOut(BaseModel):
    """Liveness and readiness. Status 200 when ready, 503 when sealed or the database is down,
    501 when not initialized; the body is the same in every case."""

    initialized: bool = Field(description="Whether Tessera has been initialized.")
    sealed: bool = Field(description="Whether Tessera is sealed.")
    database: bool = Field(description="Whether the database answered.")
    audit: bool = Field(description="Whether an audit sink can write.")
    version: str = Field(description="Tessera server version.")
    server_time: datetime = Field(description="The server's clock. " + TIME_DOC)


class RotateOut(BaseModel):
    """The keyring after rotation: new data is encrypted under the new version."""

    keyring_version: int = Field(
        description="The new active data-key version; older versions still decrypt."
    )


# -- tokens ------------------------------------------------------------------------------------
class TokenCreateIn(Strict):
    """A child token of the caller: it never outlives its parent and is revoked with it."""

    policies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Policies; a subset of the caller's unless root.",
    )
    ttl: Duration | None = Field(None, description="Initial time to live. " + DURATION_DOC)
    explicit_max_ttl: Duration | None = Field(None, description="Hard cap. " + DURATION_DOC)
    display_name: str = Field(
        "token", max_length=256, description="Label shown in lookups and the inventory."
    )
    renewable: bool = Field(True, description="Whether the token's expiry can be extended.")
    identity: str | None = Field(
        None, max_length=255, description="Identity name to bind the token to."
    )
    meta: dict[str, str] = Field(default_factory=dict, description="Free-form string metadata.")
    no_default_policy: bool = Field(False, description="Do not attach the 'default' policy.")


class TokenOut(BaseModel):
    """A token's properties, never the token itself."""

    accessor: str = Field(description="Public handle to manage the token without knowing it.")
    policies: list[str] = Field(description="Policies attached to the token.")
    display_name: str = Field(description="Label given at creation; not unique.")
    identity_id: str | None = Field(
        description="Id of the identity the token is bound to; null = not bound."
    )
    meta: dict[str, str] = Field(description="Free-form string metadata given at creation.")
    renewable: bool = Field(description="Whether the expiry can be extended.")
    ttl: int = Field(description="Seconds left before expiry (0 = never expires).")
    creation_ttl: int = Field(
        description="Time to live granted at creation, in seconds (0 = never expires); "
        "a renewal without `increment` extends by this much."
    )
    created_at: datetime = Field(description="Creation time. " + TIME_DOC)
    expires_at: datetime | None = Field(description="Expiry. " + TIME_DOC + " Null = never.")
    max_expires_at: datetime | None = Field(
        description="Latest expiry renewals can reach. " + TIME_DOC + " Null = no cap."
    )
    parent_accessor: str | None = Field(
        description="Accessor of the token that created this one; null for the initial root."
    )
    revoked: bool = Field(description="Whether the token was revoked (expiry does not set it).")


class TokenCreatedOut(BaseModel):
    """A new token and its properties; the token is shown only in this response."""

    token: str = Field(description="The token. Shown once; Tessera keeps only a keyed hash.")
    info: TokenOut = Field(description="The new token's properties.")


class TokenRefIn(Strict):
    """Names a token by its secret value."""

    token: str = Field(max_length=256, description="The token itself (not its accessor).")


class AccessorIn(Strict):
    """Names a token by its accessor, so it can be managed without knowing it."""

    accessor: str = Field(max_length=64, description="The token's accessor ('tacc_…').")


class RenewSelfIn(Strict):
    """Extend the calling token's expiry, never past its `max_expires_at` or its parent's."""

    increment: Duration | None = Field(None, description="Requested extension. " + DURATION_DOC)


class RenewIn(RenewSelfIn):
    """Extend another token's expiry: give exactly one of `token` or `accessor`."""

    token: str | None = Field(None, max_length=256, description="Token to renew.")
    accessor: str | None = Field(None, max_length=64, description="Accessor of the token to renew.")

    @model_validator(mode="after")
    def _exactly_one(self) -> RenewIn:
        if (self.token is None) == (self.accessor is None):
            raise ValueError("give exactly one of 'token' or 'accessor'")
        return self


class RevokedOut(BaseModel):
    """How many tokens a revocation revoked; revoking again is not an error."""

    revoked: int = Field(description="Tokens revoked now, children included.")


# -- policies ----------------------------------------------------------------------------------
class PolicyRuleIO(Strict):
    """One rule: capabilities granted (or denied) on the paths a pattern matches."""

    path: str = Field(max_length=1024, description="Path pattern; '+' one segment, '*' suffix.")
    capabilities: list[str] = Field(
        max_length=7, description="create read update delete list sudo deny"
    )
    constraints: dict[str, Any] = Field(
        default_factory=dict, description="Limits the service applies, e.g. max_ttl."
    )


class PolicyIn(Strict):
    """A policy document. Any matching `deny` rule denies; else a matching rule must grant."""

    description: str = Field("", max_length=1024, description="Free text for people.")
    rules: list[PolicyRuleIO] = Field(max_length=500, description="The policy's rules, in order.")


class PolicyOut(BaseModel):
    """A stored policy, in the form `PolicyIn` accepts."""

    name: str = Field(description="Policy name.")
    description: str = Field(description="Free text for people.")
    rules: list[PolicyRuleIO] = Field(description="The policy's rules, in order.")


class NamesOut(BaseModel):
    """A sorted list of names."""

    names: list[str] = Field(
        description="Names; for policies, the built-in 'root' and 'default' are included."
    )


# -- identities and inventory ------------------------------------------------------------------
class IdentityIn(Strict):
    """A new identity: a non-human actor that owns credentials."""

    name: str = Field(max_length=255, description="Unique name of the non-human actor.")
    owner: str = Field(max_length=255, description="Accountable team or person (required).")
    kind: str = Field(
        "workload", description="workload, service_account, device, pipeline, bot, operator"
    )
    environment: str = Field(
        "default", max_length=64, description="Environment, e.g. 'prod'; same rules as names."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Key/value labels (at most 64), filterable on list."
    )
    spiffe_id: str | None = Field(
        None, max_length=2048, description="SPIFFE ID: spiffe://<trust domain>/<path>."
    )


class IdentityPatch(Strict):
    """Changes to an active identity; an omitted or null field is left as it is."""

    owner: str | None = Field(
        None, max_length=255, description="New owner; the identity's managed credentials follow."
    )
    environment: str | None = Field(None, max_length=64, description="New environment.")
    labels: dict[str, str] | None = Field(None, description="Replaces every label.")


class IdentityOut(BaseModel):
    """An identity as stored."""

    id: str = Field(description="Stable id (26-character ULID; sorts by creation time).")
    name: str = Field(description="Unique name.")
    kind: str = Field(description="workload, service_account, device, pipeline, bot, operator")
    owner: str = Field(description="Accountable team or person.")
    environment: str = Field(description="Environment, e.g. 'prod'.")
    labels: dict[str, str] = Field(description="Key/value labels.")
    spiffe_id: str | None = Field(description="SPIFFE ID; null = none.")
    status: str = Field(description="'active' or 'decommissioned' (final).")
    created_at: datetime = Field(description="Creation time. " + TIME_DOC)
    updated_at: datetime = Field(description="Last change. " + TIME_DOC)
    decommissioned_at: datetime | None = Field(
        description="When decommissioned. " + TIME_DOC + " Null while active."
    )


class IdentityPageOut(BaseModel):
    """One page of identities, ordered by id. Identities the caller may not read are left out,
    so a page can hold fewer than `limit` items, even none, and still have a next page."""

    items: list[IdentityOut] = Field(description="The identities on this page.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null = this is the last page."
    )


class DecommissionOut(BaseModel):
    """The decommissioned identity. Idempotent: a repeat call succeeds and revokes what is left."""

    identity: IdentityOut = Field(description="The identity, now decommissioned.")
    revoked_credentials: int = Field(
        description="Credentials revoked by this call, child tokens included."
    )


class LocationOut(BaseModel):
    """One place a credential was issued at or found in."""

    kind: str = Field(description="issued, file, git or endpoint")
    location: str = Field(description="Where, e.g. 'tessera:auth/token' for issued tokens.")
    first_seen_at: datetime = Field(description="First recorded there. " + TIME_DOC)
    last_seen_at: datetime = Field(description="Last recorded there. " + TIME_DOC)


class CredentialOut(BaseModel):
    """One credential in the inventory: metadata only, never the secret."""

    id: str = Field(description="Stable id (26-character ULID; sorts by creation time).")
    kind: str = Field(
        description="tessera_token, x509_certificate, ssh_certificate, ssh_key, private_key, "
        "api_key, oauth_client, oauth_token, static_secret, dynamic_lease, spiffe_svid, "
        "leaked_secret"
    )
    fingerprint: str = Field(
        description="Unique per kind and not secret, e.g. 'hmac-sha256:<hex>' for a token."
    )
    name: str = Field(description="Label, e.g. a token's display name.")
    identity_id: str | None = Field(description="Id of the owning identity; null = none.")
    owner: str | None = Field(description="Accountable team or person; null = unknown.")
    source: str = Field(description="'managed' (issued by Tessera) or 'discovered' (found).")
    status: str = Field(
        description="'active', 'revoked' or 'superseded'. An active credential past "
        "`not_after` is listed by `status=expired` but keeps 'active' here."
    )
    issued_at: datetime | None = Field(description="Issue time. " + TIME_DOC + " Null = unknown.")
    not_after: datetime | None = Field(
        description="Expiry. " + TIME_DOC + " Null = no expiry (or none known)."
    )
    last_used_at: datetime | None = Field(
        description="Last recorded use. " + TIME_DOC + " Null = none recorded."
    )
    last_rotated_at: datetime | None = Field(
        description="Last issue or rotation. " + TIME_DOC + " Null = unknown."
    )
    attributes: dict[str, Any] = Field(
        description="Kind-specific details, e.g. a token's accessor and policies."
    )
    locations: list[LocationOut] = Field(
        default_factory=list,
        description="Where it was issued or found; empty in list responses.",
    )
    key_type: str | None = Field(
        default=None,
        description="Public-key family: rsa, ec, ed25519, ed448, dsa, …; null = none or unknown.",
    )
    key_bits: int | None = Field(default=None, description="Key size in bits; null = unknown.")
    signature_algorithm: str | None = Field(
        default=None,
        description="Signature algorithm of a certificate, e.g. 'rsa-with-sha256', "
        "'ecdsa-with-sha256', 'ed25519'; null = none.",
    )


class CredentialOwnerIn(Strict):
    """A new accountable owner for one credential."""

    owner: str = Field(
        description="Team or person, 1-255 printable characters (validated as identities' owners)."
    )


class CredentialPageOut(BaseModel):
    """One page of credentials, ordered by id (or by expiry with `sort=expiry`). Credentials
    the caller may not read are left out, so a page can hold fewer than `limit` items, even
    none, and still have a next page."""

    items: list[CredentialOut] = Field(description="The credentials on this page.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null = this is the last page."
    )


class DecommissionPlanOut(BaseModel):
    """A dry run: the credentials decommissioning would revoke (child tokens included)."""

    items: list[CredentialOut] = Field(description="Credentials that would be revoked.")
