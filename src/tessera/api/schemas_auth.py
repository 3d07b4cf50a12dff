"""Bodies of the machine auth methods (AppRole, JWT/OIDC); field descriptions become the
OpenAPI documentation. Secret ids and tokens appear only in the responses that create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict, TokenOut

CIDRS_DOC = "CIDR blocks such as '10.0.0.0/8' or '::1/128'; empty: any source address."


# -- AppRole ------------------------------------------------------------------------------------
class AppRoleIn(Strict):
    """An AppRole role: what a login grants and how its secret ids behave."""

    identity: str | None = Field(None, description="Identity the tokens are bound to.")
    policies: list[str] = Field([], max_length=64, description="Policies of the tokens.")
    token_ttl: Duration = Field("1h", description=DURATION_DOC)
    token_max_ttl: Duration = Field("24h", description=DURATION_DOC)
    secret_id_ttl: Duration = Field(0, description="Secret id lifetime; 0: no expiry.")
    secret_id_num_uses: int = Field(0, ge=0, description="Logins per secret id; 0: unlimited.")
    secret_id_bound_cidrs: list[str] = Field([], max_length=64, description=CIDRS_DOC)
    token_bound_cidrs: list[str] = Field(
        [], max_length=64, description="Source addresses a login must come from. " + CIDRS_DOC
    )
    bind_secret_id: bool = Field(
        True, description="Require a secret id; off only with token_bound_cidrs."
    )


class AppRoleOut(BaseModel):
    """A role (its role id is read separately)."""

    name: str
    identity: str | None
    policies: list[str]
    token_ttl: int = Field(description="Seconds.")
    token_max_ttl: int = Field(description="Seconds.")
    secret_id_ttl: int = Field(description="Seconds; 0: no expiry.")
    secret_id_num_uses: int = Field(description="0: unlimited.")
    secret_id_bound_cidrs: list[str]
    token_bound_cidrs: list[str]
    bind_secret_id: bool
    created_at: datetime = Field(description=TIME_DOC)
    updated_at: datetime = Field(description=TIME_DOC)


class RoleIdOut(BaseModel):
    """A role's role id: not secret, but unguessable."""

    role_id: str


class SecretIdIn(Strict):
    """Options for a new secret id."""

    cidrs: list[str] = Field(
        [], max_length=64, description="Within the role's secret_id_bound_cidrs. " + CIDRS_DOC
    )
    meta: dict[str, str] = Field({}, description="Up to 16 labels kept with the secret id.")


class SecretIdInfoOut(BaseModel):
    """A secret id's properties, by accessor; never the secret id."""

    accessor: str = Field(description="Non-secret handle to look up or destroy the secret id.")
    role: str
    cidrs: list[str]
    meta: dict[str, str]
    uses_left: int | None = Field(description="None: unlimited.")
    created_at: datetime = Field(description=TIME_DOC)
    expires_at: datetime | None = Field(description=TIME_DOC)


class SecretIdCreatedOut(BaseModel):
    """A new secret id, shown only in this response (Tessera keeps a keyed hash)."""

    secret_id: str
    info: SecretIdInfoOut


class SecretIdListOut(BaseModel):
    """The live secret ids of a role."""

    secret_ids: list[SecretIdInfoOut]


class AppRoleLoginIn(Strict):
    """An AppRole login."""

    role_id: str = Field(max_length=256)
    secret_id: str | None = Field(None, max_length=256, description="Unless bind_secret_id off.")


# -- JWT / OIDC ---------------------------------------------------------------------------------
class JwtIssuerIn(Strict):
    """An external JWT issuer: its exact `iss`, and a JWKS URL or static public keys."""

    issuer: str = Field(max_length=1024, description="The exact `iss` value of its tokens.")
    jwks_url: str | None = Field(None, max_length=2048, description="Fetched and cached.")
    static_keys: list[dict[str, Any]] = Field(
        [], max_length=32, description="Public JWKs (RSA, EC, OKP), instead of jwks_url."
    )
    algorithms: list[str] = Field(
        ["RS256", "ES256"], max_length=10, description="Allowed `alg` values; asymmetric only."
    )
    leeway: Duration = Field(30, description="Clock skew allowed on exp/nbf. " + DURATION_DOC)


class JwtIssuerOut(BaseModel):
    """A stored issuer."""

    name: str
    issuer: str
    jwks_url: str | None
    static_keys: list[dict[str, Any]]
    algorithms: list[str]
    leeway: int = Field(description="Seconds.")
    created_at: datetime = Field(description=TIME_DOC)
    updated_at: datetime = Field(description=TIME_DOC)


class JwtRoleIn(Strict):
    """A JWT login role."""

    issuer: str = Field(max_length=128, description="Name of a configured issuer.")
    bound_audiences: list[str] = Field(
        min_length=1, max_length=16, description="`aud` must contain one of these exactly."
    )
    bound_claims: dict[str, str | int | bool | list[str | int | bool]] = Field(
        {},
        description="Claim → required value (or list of accepted values), e.g. "
        "{'repository': 'acme/web', 'ref': ['refs/heads/main']} or "
        "{'kubernetes.io/serviceaccount/namespace': 'prod'}; a name starting with '/' is a "
        "JSON pointer into nested claims.",
    )
    user_claim: str = Field("sub", max_length=255, description="Claim naming the caller.")
    expected_typ: str | None = Field(None, max_length=64, description="Required `typ` header.")
    identity: str | None = Field(None, description="Identity the tokens are bound to.")
    policies: list[str] = Field([], max_length=64)
    token_ttl: Duration = Field("1h", description=DURATION_DOC)
    token_max_ttl: Duration = Field("24h", description=DURATION_DOC)


class JwtRoleOut(BaseModel):
    """A stored JWT role."""

    name: str
    issuer: str
    bound_audiences: list[str]
    bound_claims: dict[str, Any]
    user_claim: str
    expected_typ: str | None
    identity: str | None
    policies: list[str]
    token_ttl: int = Field(description="Seconds.")
    token_max_ttl: int = Field(description="Seconds.")
    created_at: datetime = Field(description=TIME_DOC)
    updated_at: datetime = Field(description=TIME_DOC)


class JwtLoginIn(Strict):
    """A JWT login: the role and the platform's token."""

    role: str = Field(max_length=256)
    jwt: str = Field(max_length=64 * 1024, description="Compact JWS; at most 16 KiB is accepted.")


class LoginOut(BaseModel):
    """The Tessera token a login returns, shown only in this response."""

    token: str = Field(description="The token. Shown once; Tessera keeps only a keyed hash.")
    info: TokenOut
