"""The `SecretEngine` port: what a database secrets engine must do, one typed request per operation.

Engines receive only generated, validated user names and passwords; every identifier and literal
they put into SQL is quoted by the engine itself, never pasted in by a caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Connection:
    """How to reach the database as Tessera's own (root) user. `password` comes from the barrier."""

    plugin: str  # "postgresql" | "mysql"
    host: str
    port: int
    username: str
    password: str
    database: str
    connect_timeout: float = 5.0
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Grant:
    """One privilege grant: `privileges` (e.g. SELECT, INSERT) on `on`.

    `on` is `schema.table`, `schema.*` (every table of a schema) for PostgreSQL, or
    `database.table` / `database.*` for MySQL; a bare `role:<name>` makes the user a member of an
    existing role (PostgreSQL) or grants that role (MySQL/MariaDB), and takes no privileges."""

    privileges: tuple[str, ...]
    on: str


@dataclass(frozen=True)
class CreateUser:
    """Create a login user that stops working at `expires_at` (PostgreSQL `VALID UNTIL`).

    With `statements` empty the engine uses its safe default (login user + `grants`);
    otherwise each statement is a template with `{{name}}`, `{{password}}`, `{{expiration}}`:
    they render to the raw values, each checked against a closed alphabet (the template writer
    supplies the quoting); `statements` and `grants` together are refused."""

    username: str
    password: str
    expires_at: datetime
    grants: Sequence[Grant] = ()
    statements: Sequence[str] = ()


@dataclass(frozen=True)
class RenewUser:
    """Move a dynamic user's end of validity to `expires_at` (no-op where the engine has none)."""

    username: str
    expires_at: datetime


@dataclass(frozen=True)
class RevokeUser:
    """End the user's sessions and drop it; a user that does not exist is already revoked."""

    username: str
    statements: Sequence[str] = ()  # templates with {{name}}; empty = engine default


@dataclass(frozen=True)
class RotatePassword:
    """Set a new password on an existing user (static roles, and the root user itself)."""

    username: str
    new_password: str


class SecretEngine(Protocol):
    """A database that Tessera creates, rotates and drops users in. Raises `EngineUnavailable`
    when the database cannot be reached and `EngineError` when it refuses an operation."""

    plugin: str

    def verify(self, conn: Connection) -> None:
        """Connect and authenticate once; raise if that fails."""
        ...

    def create_user(self, conn: Connection, req: CreateUser) -> None: ...

    def renew_user(self, conn: Connection, req: RenewUser) -> None: ...

    def revoke_user(self, conn: Connection, req: RevokeUser) -> None: ...

    def rotate_password(self, conn: Connection, req: RotatePassword) -> None: ...

    def user_exists(self, conn: Connection, username: str) -> bool: ...

    def list_users(self, conn: Connection, prefix: str) -> list[str]:
        """Every user whose name starts with `prefix` (for the sweep of orphans)."""
        ...
