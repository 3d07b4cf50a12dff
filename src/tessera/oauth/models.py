"""Domain objects of the OAuth 2 authorization server: clients, exchange issuers, limits, and
the validation rules their fields share (RFC 6749 §3.3 scope tokens, audiences)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tessera.core.errors import InvalidRequest


class AuthMethod(StrEnum):
    """Client authentication at the token endpoint (RFC 7591 names). A secret client may
    present its secret either way; `private_key_jwt` clients sign an assertion (RFC 7523)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"
    CLIENT_SECRET_POST = "client_secret_post"
    PRIVATE_KEY_JWT = "private_key_jwt"

    @property
    def uses_secret(self) -> bool:
        return self is not AuthMethod.PRIVATE_KEY_JWT


class GrantType(StrEnum):
    """Grant types the token endpoint implements."""

    CLIENT_CREDENTIALS = "client_credentials"
    TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


class ClientStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
# What client assertions may be signed with: asymmetric only (no `none`, no HMAC).
ASSERTION_ALGORITHMS = (
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
)  # fmt: skip
MAX_SCOPES = 64
MAX_AUDIENCES = 16
MAX_CLIENT_KEYS = 10
_SCOPE_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")
_AUDIENCE_RE = re.compile(r"[\x21-\x7e]{1,1024}")


@dataclass(frozen=True)
class OAuthLimits:
    """Server-wide bounds: token lifetimes, assertion lifetime and clock leeway, how often a
    client's last use is written, how long keys are cached, and request sizes."""

    default_ttl: timedelta = timedelta(hours=1)
    min_ttl: timedelta = timedelta(minutes=1)
    max_ttl: timedelta = timedelta(hours=24)
    max_assertion_lifetime: timedelta = timedelta(hours=1)
    leeway: timedelta = timedelta(seconds=30)
    usage_interval: float = 60.0
    key_cache_seconds: float = 5.0
    max_secret_overlap: timedelta = timedelta(days=7)
    max_form_bytes: int = 16 * 1024
    max_token_bytes: int = 8 * 1024


def validate_scopes(scopes: Sequence[str], what: str = "scope") -> tuple[str, ...]:
    """Scope tokens as RFC 6749 §3.3 defines them (no spaces, quotes or backslashes), deduped
    in order; raises InvalidRequest."""
    if len(scopes) > MAX_SCOPES:
        raise InvalidRequest(f"at most {MAX_SCOPES} {what}s")
    for s in scopes:
        if not isinstance(s, str) or not _SCOPE_RE.fullmatch(s):
            raise InvalidRequest(
                f"each {what} must be 1-128 printable ASCII characters without spaces, '\"' or '\\'"
            )
    return tuple(dict.fromkeys(scopes))


def validate_audiences(audiences: Sequence[str]) -> tuple[str, ...]:
    """Audiences (usually URLs of resource servers): 1-1024 printable ASCII, no spaces."""
    if len(audiences) > MAX_AUDIENCES:
        raise InvalidRequest(f"at most {MAX_AUDIENCES} audiences")
    for a in audiences:
        if not isinstance(a, str) or not _AUDIENCE_RE.fullmatch(a):
            raise InvalidRequest("each audience must be 1-1024 printable ASCII without spaces")
    return tuple(dict.fromkeys(audiences))


@dataclass(frozen=True)
class OAuthClient:
    """A client's properties, never its secret or the secret's hash."""

    client_id: str
    name: str
    identity: str
    identity_id: str
    auth_method: AuthMethod
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    token_ttl: timedelta
    jwks: Mapping[str, Any] | None
    status: ClientStatus
    credential_id: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    previous_secret_expires_at: datetime | None


@dataclass(frozen=True)
class CreateClientRequest:
    """A new client of an identity. `jwks` (a JWK Set of public keys) or `public_key_pem` is
    required for `private_key_jwt` and refused otherwise."""

    identity: str
    audiences: tuple[str, ...]
    scopes: tuple[str, ...] = ()
    auth_method: AuthMethod = AuthMethod.CLIENT_SECRET_BASIC
    name: str | None = None
    token_ttl: timedelta | None = None
    jwks: Mapping[str, Any] | None = None
    public_key_pem: str | None = None


@dataclass(frozen=True)
class CreatedClient:
    """The secret in clear exists only here, returned once (None for `private_key_jwt`)."""

    client: OAuthClient
    client_secret: str | None


@dataclass(frozen=True)
class RotateSecretRequest:
    """A new secret; the old one keeps working for `overlap` (0: stops at once)."""

    overlap: timedelta = timedelta(0)


@dataclass(frozen=True)
class AuthenticatedClient:
    """A client that proved itself at an OAuth endpoint, with what it may be granted."""

    client_id: str
    identity: str
    identity_id: str
    method: AuthMethod
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    token_ttl: timedelta


@dataclass(frozen=True)
class ExchangeBinding:
    """Subject tokens whose claims match every entry of `claims` (claim → allowed values,
    exact string match) are exchanged for tokens of `identity`, within its scopes and
    audiences."""

    claims: Mapping[str, tuple[str, ...]]
    identity: str
    scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    token_ttl: timedelta = timedelta(minutes=15)

    def matches(self, token_claims: Mapping[str, Any]) -> bool:
        return all(
            isinstance(token_claims.get(name), str) and token_claims[name] in allowed
            for name, allowed in self.claims.items()
        )


@dataclass(frozen=True)
class ExchangeIssuer:
    """An external issuer trusted for token exchange: its `iss`, where its keys are, the
    algorithms accepted, the `aud` its tokens must carry, and the bindings to identities."""

    name: str
    issuer: str
    subject_audience: str
    bindings: tuple[ExchangeBinding, ...]
    jwks_url: str | None = None
    static_keys: tuple[Mapping[str, Any], ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1)."""

    access_token: str
    expires_in: int
    scope: tuple[str, ...]
    issued_token_type: str | None = None
    token_type: str = "Bearer"

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.scope:
            out["scope"] = " ".join(self.scope)
        if self.issued_token_type:
            out["issued_token_type"] = self.issued_token_type
        return out


@dataclass(frozen=True)
class SigningKeyInfo:
    """A signing key's public facts: `active` signs new tokens; a retired key stays in the
    JWKS until `publish_until`."""

    kid: str
    alg: str
    created_at: datetime
    retired_at: datetime | None
    publish_until: datetime | None
    active: bool


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of one of our access tokens."""

    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def expires_at(self) -> int:
        return int(self.claims["exp"])
