"""Database secrets engine and lease bodies; field descriptions become the OpenAPI documentation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict


class DbConnectionIn(Strict):
    """How Tessera logs in to a database as the user that creates and drops other users."""

    plugin: str = Field(description="'postgresql' or 'mysql' (MySQL and MariaDB).")
    host: str = Field("127.0.0.1", max_length=255)
    port: int | None = Field(None, description="Default 5432 (postgresql) or 3306 (mysql).")
    database: str = Field("", max_length=128)
    username: str = Field(max_length=63)
    password: str = Field("", max_length=1024, description="Stored sealed; never returned.")
    allowed_roles: list[str] = Field(["*"], max_length=256, description="Role names or '*'.")
    connect_timeout: float = Field(5, description="Seconds (0-60].")
    verify: bool = Field(True, description="Log in once before saving.")

    def document(self) -> dict[str, Any]:
        doc = self.model_dump(exclude_none=True)
        return doc


class DbConnectionOut(BaseModel):
    """A connection, without its password."""

    name: str
    plugin: str
    host: str
    port: int
    database: str
    username: str
    allowed_roles: list[str]
    root_rotated_at: datetime | None = Field(description=TIME_DOC)
    created_at: datetime
    updated_at: datetime


class GrantIO(Strict):
    privileges: list[str] = Field(max_length=20, description="e.g. ['SELECT', 'INSERT'].")
    on: str = Field(
        max_length=512,
        description="'schema.table', 'schema.*' (PostgreSQL), 'db.table', 'db.*' (MySQL), "
        "or 'role:<name>' for membership of an existing role.",
    )


class DbRoleIn(Strict):
    """A dynamic role: each credentials request creates a new user with these grants."""

    connection: str = Field(max_length=128)
    default_ttl: Duration = Field("1h", description=DURATION_DOC)
    max_ttl: Duration = Field("24h", description=DURATION_DOC)
    renewable: bool = True
    grants: list[GrantIO] = Field([], max_length=100)
    creation_statements: list[str] = Field(
        [],
        max_length=20,
        description="Instead of grants: SQL templates with {{name}}, {{password}}, "
        "{{expiration}} (values are generated and safe; write the quoting yourself).",
    )
    revocation_statements: list[str] = Field(
        [], max_length=20, description="Templates with {{name}}; default drops the user."
    )

    def document(self) -> dict[str, Any]:
        return self.model_dump()


class DbStaticRoleIn(Strict):
    """An existing database user whose password only Tessera knows and rotates."""

    connection: str = Field(max_length=128)
    username: str = Field(max_length=63)
    rotation_period: Duration = Field("24h", description=DURATION_DOC)

    def document(self) -> dict[str, Any]:
        return self.model_dump()


class DbRoleOut(BaseModel):
    name: str
    kind: str = Field(description="'dynamic' or 'static'.")
    document: dict[str, Any] = Field(description="The validated role document (TTLs in s).")
    last_rotated_at: datetime | None = Field(description="Static roles: " + TIME_DOC)
    next_rotation_at: datetime | None = Field(description="Static roles: " + TIME_DOC)
    created_at: datetime
    updated_at: datetime


class LeaseOut(BaseModel):
    """A lease: what it is for and how long it lasts (never the credential itself)."""

    lease_id: str
    engine: str
    role: str
    connection: str
    username: str
    state: str = Field(description="pending, active, revoking, revoked or irrevocable.")
    renewable: bool
    issued_at: datetime
    expires_at: datetime
    max_expires_at: datetime
    ttl: int = Field(description="Seconds left (0 once expired).")
    revoked_at: datetime | None
    attempts: int = Field(description="Failed revocation attempts so far.")
    last_error: str | None


class DbCredsIn(Strict):
    ttl: Duration | None = Field(None, description=DURATION_DOC + " Default: the role's.")


class DbCredsOut(BaseModel):
    """A fresh database login; the password is shown once and never stored."""

    username: str
    password: str
    lease: LeaseOut


class StaticCredsOut(BaseModel):
    username: str
    password: str
    last_rotated_at: datetime | None
    next_rotation_at: datetime | None


class LeaseListOut(BaseModel):
    items: list[LeaseOut]
    next_cursor: str | None = Field(description="Pass as 'cursor' for the next page.")


class LeaseRenewIn(Strict):
    lease_id: str = Field(max_length=255)
    increment: Duration | None = Field(None, description=DURATION_DOC)


class LeaseIdIn(Strict):
    lease_id: str = Field(max_length=255)


class LeasePrefixIn(Strict):
    prefix: str = Field(min_length=1, max_length=255)


class CountOut(BaseModel):
    count: int
