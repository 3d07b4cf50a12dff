"""Tables of the secrets domain: versioned KV, database engine connections and roles, leases.
Secret values and passwords only ever land in `LargeBinary` columns written through the barrier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class KvSecretRow(Base):
    """One KV path: its metadata and the inventory credential (kind static secret) it is."""

    __tablename__ = "kv_secrets"
    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    current_version: Mapped[int] = mapped_column(Integer)
    oldest_version: Mapped[int] = mapped_column(Integer)
    max_versions: Mapped[int] = mapped_column(Integer)
    cas_required: Mapped[bool] = mapped_column(Boolean)
    custom_metadata: Mapped[dict[str, str]] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(255))
    rotation_period_seconds: Mapped[int | None] = mapped_column(BigInteger)
    credential_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KvVersionRow(Base):
    """One version of a KV secret; `ciphertext` is NULL once destroyed."""

    __tablename__ = "kv_versions"
    path: Mapped[str] = mapped_column(
        String(512), ForeignKey("kv_secrets.path", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    destroyed: Mapped[bool] = mapped_column(Boolean)


class DbConnectionRow(Base):
    """A database Tessera manages users in. `password` is sealed; `pending_password` holds a
    root rotation in flight so a crash between ALTER and commit never loses the login."""

    __tablename__ = "db_connections"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    database: Mapped[str] = mapped_column(String(128))
    username: Mapped[str] = mapped_column(String(128))
    password: Mapped[bytes] = mapped_column(LargeBinary)
    pending_password: Mapped[bytes | None] = mapped_column(LargeBinary)
    allowed_roles: Mapped[list[str]] = mapped_column(JSON)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    root_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DbRoleRow(Base):
    """A dynamic role (users made per lease) or a static role (one existing user whose password
    Tessera rotates); the validated JSON document says which and how."""

    __tablename__ = "db_roles"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # dynamic | static
    connection: Mapped[str] = mapped_column(String(128), ForeignKey("db_connections.name"))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # static roles only: sealed current password, rotation in flight, schedule
    password: Mapped[bytes | None] = mapped_column(LargeBinary)
    pending_password: Mapped[bytes | None] = mapped_column(LargeBinary)
    last_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_rotation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    credential_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaseRow(Base):
    """A dynamic credential's lease, recorded (`pending`) before the credential exists.
    States: pending → active → revoked, or irrevocable after the revocation retries run out."""

    __tablename__ = "leases"
    __table_args__ = (Index("ix_leases_state_expires_at", "state", "expires_at"),)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    engine: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(128), index=True)
    connection: Mapped[str] = mapped_column(String(128))
    username: Mapped[str] = mapped_column(String(64), index=True)
    token_accessor: Mapped[str | None] = mapped_column(String(64), index=True)
    identity_id: Mapped[str | None] = mapped_column(String(32))
    credential_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    renewable: Mapped[bool] = mapped_column(Boolean)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(512))
