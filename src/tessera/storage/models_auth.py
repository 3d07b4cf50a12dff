"""Tables of the machine auth methods: AppRole roles and secret ids, JWT/OIDC issuers and roles,
TLS certificate roles. Secret ids are stored only as keyed hashes (HMAC-SHA256 under a
barrier-held key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class AppRoleRow(Base):
    """An AppRole role: what a login through it grants, and how its secret ids behave."""

    __tablename__ = "approle_roles"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    role_id: Mapped[str] = mapped_column(String(64), unique=True)  # canonical (lower-case)
    identity: Mapped[str | None] = mapped_column(String(255))
    policies: Mapped[list[str]] = mapped_column(JSON)
    token_ttl_seconds: Mapped[int] = mapped_column(Integer)
    token_max_ttl_seconds: Mapped[int] = mapped_column(Integer)
    secret_id_ttl_seconds: Mapped[int] = mapped_column(Integer)  # 0: no expiry
    secret_id_num_uses: Mapped[int] = mapped_column(Integer)  # 0: unlimited
    secret_id_bound_cidrs: Mapped[list[str]] = mapped_column(JSON)
    token_bound_cidrs: Mapped[list[str]] = mapped_column(JSON)
    bind_secret_id: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppRoleSecretIdRow(Base):
    """One secret id of a role; `uses_left` None means unlimited, a row at 0 is deleted."""

    __tablename__ = "approle_secret_ids"
    accessor: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_name: Mapped[str] = mapped_column(
        String(128), ForeignKey("approle_roles.name"), index=True
    )
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    uses_left: Mapped[int | None] = mapped_column(Integer)
    cidrs: Mapped[list[str]] = mapped_column(JSON)
    meta: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class JwtIssuerRow(Base):
    """An external JWT issuer: exact `iss`, where its keys come from, and allowed algorithms."""

    __tablename__ = "jwt_issuers"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(1024))
    jwks_url: Mapped[str | None] = mapped_column(String(2048))
    static_keys: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    algorithms: Mapped[list[str]] = mapped_column(JSON)
    leeway_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JwtRoleRow(Base):
    """A JWT login role: which tokens of an issuer it accepts and what a login grants."""

    __tablename__ = "jwt_roles"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    issuer_name: Mapped[str] = mapped_column(
        String(128), ForeignKey("jwt_issuers.name"), index=True
    )
    bound_audiences: Mapped[list[str]] = mapped_column(JSON)
    bound_claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_claim: Mapped[str] = mapped_column(String(255))
    expected_typ: Mapped[str | None] = mapped_column(String(64))
    identity: Mapped[str | None] = mapped_column(String(255))
    policies: Mapped[list[str]] = mapped_column(JSON)
    token_ttl_seconds: Mapped[int] = mapped_column(Integer)
    token_max_ttl_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CertRoleRow(Base):
    """A TLS certificate login role: its trust anchors, the SAN patterns it accepts and what
    a login grants. `trusted_ca_pems` are public CA certificates (nothing secret)."""

    __tablename__ = "cert_auth_roles"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    allowed_cas: Mapped[list[str]] = mapped_column(JSON)
    trusted_ca_pems: Mapped[list[str]] = mapped_column(JSON)
    allowed_dns_sans: Mapped[list[str]] = mapped_column(JSON)
    allowed_uri_sans: Mapped[list[str]] = mapped_column(JSON)
    identity: Mapped[str | None] = mapped_column(String(255))
    policies: Mapped[list[str]] = mapped_column(JSON)
    token_ttl_seconds: Mapped[int] = mapped_column(Integer)
    token_max_ttl_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
