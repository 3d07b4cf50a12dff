"""Tables of the OAuth 2 authorization server. Client secrets are stored only as keyed hashes;
signing keys only as barrier ciphertext; access tokens are not stored (stateless JWTs), only the
`jti` of revoked ones and of client assertions already used, each until it expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class OAuthClientRow(Base):
    """One OAuth client: a credential of an identity (inventory kind `oauth_client`)."""

    __tablename__ = "oauth_clients"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the client_id
    identity_id: Mapped[str] = mapped_column(String(32), ForeignKey("identities.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    auth_method: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary)  # HMAC-SHA-256
    previous_secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # public keys only
    scopes: Mapped[list[str]] = mapped_column(JSON)
    audiences: Mapped[list[str]] = mapped_column(JSON)
    token_ttl_seconds: Mapped[int] = mapped_column(Integer)
    credential_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OAuthSigningKeyRow(Base):
    """An access-token signing key: PKCS#8 DER sealed by the barrier (AAD = this row). Its
    public key is published until `publish_until` (the last token it signed has expired)."""

    __tablename__ = "oauth_signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OAuthRevokedTokenRow(Base):
    """A revoked access token (RFC 7009), kept until the token would have expired."""

    __tablename__ = "oauth_revoked_tokens"
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OAuthAssertionJtiRow(Base):
    """A `private_key_jwt` assertion already used (RFC 7523 replay protection), until its exp."""

    __tablename__ = "oauth_assertion_jtis"
    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OAuthExchangeIssuerRow(Base):
    """An external JWT issuer trusted for token exchange (RFC 8693), with the bindings that
    map its tokens' claims to identities, scopes and audiences."""

    __tablename__ = "oauth_exchange_issuers"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(2048), unique=True)
    jwks_url: Mapped[str | None] = mapped_column(String(2048))
    static_keys: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    algorithms: Mapped[list[str]] = mapped_column(JSON)
    subject_audience: Mapped[str] = mapped_column(String(1024))
    bindings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
