"""OAuth management request and response bodies (`/v1/oauth/...`); field descriptions become
the OpenAPI docs. The standard endpoints (`/oauth2/*`, `/.well-known/*`) take forms and answer
the JSON their RFCs define, so they have no models here.

Problem types a management caller meets: `not-found` (404), `conflict` (409: a revoked client,
a secret rotation of a `private_key_jwt` client, an issuer that exists), `invalid-request`
(400: scopes, audiences, keys, lifetimes), `permission-denied` (403)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict

SCOPE_DOC = "Scope tokens (RFC 6749 §3.3: printable ASCII without spaces, '\"' or '\\')."
AUDIENCE_DOC = "Audiences (usually resource-server URLs) tokens may name; 1-16."
AuthMethodName = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]


class ClientCreateIn(Strict):
    """A new OAuth client of an identity (policy: `create` on `oauth/clients/<identity>`)."""

    identity: str = Field(max_length=255, description="Name of the active identity it belongs to.")
    audiences: list[str] = Field(min_length=1, max_length=16, description=AUDIENCE_DOC)
    scopes: list[str] = Field(
        default_factory=list, max_length=64, description="Scopes it may request. " + SCOPE_DOC
    )
    token_endpoint_auth_method: AuthMethodName = Field(
        "client_secret_basic",
        description="How it authenticates. A secret client may present its secret by Basic "
        "or in the form; private_key_jwt needs jwks or public_key_pem.",
    )
    name: str | None = Field(None, max_length=255, description="Display name.")
    token_ttl: Duration | None = Field(
        None,
        description="Access-token lifetime, 1m-24h (default 1h, cut to the policy's max_ttl). "
        + DURATION_DOC,
    )
    jwks: dict[str, Any] | None = Field(
        None, description="JWK Set of the client's public signing keys (private_key_jwt)."
    )
    public_key_pem: str | None = Field(
        None, max_length=16384, description="One PEM public key instead of jwks."
    )


class ClientRotateIn(Strict):
    """A new secret (policy: `update` on `oauth/clients/<identity>/<client id>`)."""

    overlap: Duration | None = Field(
        None, description="How long the old secret keeps working, 0-7d (default 0). " + DURATION_DOC
    )


class ClientOut(BaseModel):
    """An OAuth client's properties: never its secret or the secret's hash."""

    client_id: str = Field(description="The client id (26 characters).")
    name: str = Field(description="Display name.")
    identity: str = Field(description="Name of the identity the client belongs to.")
    identity_id: str = Field(description="Id of that identity.")
    token_endpoint_auth_method: str = Field(description="How the client authenticates.")
    scopes: list[str] = Field(description="Scopes it may request.")
    audiences: list[str] = Field(description="Audiences its tokens may name.")
    token_ttl_seconds: int = Field(description="Access-token lifetime in seconds.")
    jwks: dict[str, Any] | None = Field(description="Registered public keys (private_key_jwt).")
    status: str = Field(description="active or revoked.")
    credential_id: str = Field(description="The client's credential in the inventory.")
    created_at: datetime = Field(description="Creation time. " + TIME_DOC)
    updated_at: datetime = Field(description="Last change. " + TIME_DOC)
    revoked_at: datetime | None = Field(description="Revocation time. " + TIME_DOC)
    last_used_at: datetime | None = Field(
        description="Last successful authentication, written at most once a minute. " + TIME_DOC
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret before the last rotation still works. " + TIME_DOC
    )


class ClientCreatedOut(BaseModel):
    """A client and, for secret clients, its secret: shown only in this response."""

    client_id: str = Field(description="The client id.")
    client_secret: str | None = Field(
        description="The secret (secret clients). Shown once; Tessera keeps only a keyed hash."
    )
    info: ClientOut = Field(description="The client's properties.")


class ClientPageOut(BaseModel):
    """One page of clients by id; clients the caller may not read are left out."""

    items: list[ClientOut] = Field(description="The clients on this page.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")


class KeyRotateIn(Strict):
    """A new signing key (policy: `update` on `oauth/keys/rotate`)."""

    alg: Literal["ES256", "EdDSA"] = Field("ES256", description="Algorithm of the new key.")


class SigningKeyOut(BaseModel):
    """A signing key's public facts."""

    kid: str = Field(description="Key id (RFC 7638 thumbprint), in every token's header.")
    alg: str = Field(description="ES256 or EdDSA.")
    active: bool = Field(description="Whether it signs new tokens.")
    created_at: datetime = Field(description="Creation time. " + TIME_DOC)
    retired_at: datetime | None = Field(description="When rotation retired it. " + TIME_DOC)
    publish_until: datetime | None = Field(
        description="Until when a retired key stays in the JWKS (its tokens' last expiry). "
        + TIME_DOC
    )


class BindingIn(Strict):
    """Subject tokens whose claims match every entry are exchanged for the identity."""

    claims: dict[str, list[str]] = Field(
        description="Claim name → allowed values (exact match), e.g. "
        '{"repository": ["acme/api"], "ref": ["refs/heads/main"]}.'
    )
    identity: str = Field(max_length=255, description="Identity the tokens are issued for.")
    scopes: list[str] = Field(default_factory=list, description="Scopes allowed. " + SCOPE_DOC)
    audiences: list[str] = Field(min_length=1, description=AUDIENCE_DOC)
    token_ttl: Duration = Field("15m", description="Token lifetime, 1m-24h. " + DURATION_DOC)


class BindingOut(BaseModel):
    claims: dict[str, list[str]] = Field(description="Claim name → allowed values.")
    identity: str = Field(description="Identity the tokens are issued for.")
    scopes: list[str] = Field(description="Scopes allowed.")
    audiences: list[str] = Field(description="Audiences allowed.")
    token_ttl_seconds: int = Field(description="Token lifetime in seconds.")


class ExchangeIssuerIn(Strict):
    """An external JWT issuer trusted for token exchange (RFC 8693)."""

    name: str = Field(max_length=255, description="Name of this configuration.")
    issuer: str = Field(max_length=2048, description="The tokens' exact `iss`.")
    subject_audience: str = Field(
        max_length=1024, description="The `aud` its tokens must carry to be exchanged here."
    )
    jwks_url: str | None = Field(None, max_length=2048, description="Where its keys are.")
    static_keys: list[dict[str, Any]] = Field(
        default_factory=list, max_length=20, description="Its public JWKs, instead of jwks_url."
    )
    algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"], description="Algorithms accepted."
    )
    bindings: list[BindingIn] = Field(
        min_length=1, max_length=100, description="Claim bindings, first match wins."
    )


class ExchangeIssuerOut(BaseModel):
    name: str = Field(description="Name of this configuration.")
    issuer: str = Field(description="The tokens' exact `iss`.")
    subject_audience: str = Field(description="The `aud` its tokens must carry.")
    jwks_url: str | None = Field(description="Where its keys are.")
    static_keys: list[dict[str, Any]] = Field(description="Its public JWKs.")
    algorithms: list[str] = Field(description="Algorithms accepted.")
    bindings: list[BindingOut] = Field(description="Claim bindings, first match wins.")
    created_at: datetime | None = Field(description="Creation time. " + TIME_DOC)
    updated_at: datetime | None = Field(description="Last change. " + TIME_DOC)
