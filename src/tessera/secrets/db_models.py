"""Database engine documents (connections, dynamic and static roles) and what the API returns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tessera.core.documents import duration, string_list
from tessera.core.errors import InvalidRequest
from tessera.secrets.engines.common import (
    CREATE_PLACEHOLDERS,
    REVOKE_PLACEHOLDERS,
    check_templates,
    check_username,
    parse_grants,
)
from tessera.secrets.ports import Connection, Grant

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,127}")
# Database user names Tessera generates start with this; the orphan sweep drops only these.
USER_PREFIX = "tdb_"
HOST_RE = re.compile(r"[A-Za-z0-9._:-]{1,255}")
DB_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}")
MAX_STATEMENTS = 20
MAX_STATEMENT_LEN = 4096
_CONNECTION_KEYS = frozenset(
    {"plugin", "host", "port", "database", "username", "password", "allowed_roles",
     "connect_timeout", "verify"}
)  # fmt: skip
_ROLE_KEYS = frozenset(
    {"connection", "default_ttl", "max_ttl", "grants", "creation_statements",
     "revocation_statements", "renewable"}
)  # fmt: skip
_STATIC_KEYS = frozenset({"connection", "username", "rotation_period"})


def validate_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or NAME_RE.fullmatch(value) is None:
        raise InvalidRequest(
            f"{what} must be 1-128 characters of a-z, 0-9, '_', '.', '-', starting with a "
            "letter or digit"
        )
    return value


def _unknown(doc: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    extra = sorted(set(doc) - allowed)
    if extra:
        raise InvalidRequest(f"unknown {what} fields: {', '.join(extra)}")


@dataclass(frozen=True)
class ConnectionConfig:
    """A validated connection document; `password` is only ever held in memory and sealed."""

    plugin: str
    host: str
    port: int
    database: str
    username: str
    password: str
    allowed_roles: tuple[str, ...]
    connect_timeout: float
    verify: bool

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], plugins: tuple[str, ...]) -> ConnectionConfig:
        _unknown(doc, _CONNECTION_KEYS, "connection")
        plugin = doc.get("plugin")
        if plugin not in plugins:
            raise InvalidRequest(f"plugin must be one of: {', '.join(plugins)}")
        host = doc.get("host", "127.0.0.1")
        if not isinstance(host, str) or HOST_RE.fullmatch(host) is None:
            raise InvalidRequest("host must be a host name or address")
        default_port = 5432 if plugin == "postgresql" else 3306
        port = doc.get("port", default_port)
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise InvalidRequest("port must be an integer from 1 to 65535")
        database = doc.get("database", "")
        if not isinstance(database, str) or len(database) > 128 or "\x00" in database:
            raise InvalidRequest("database must be a name of at most 128 characters")
        username = doc.get("username")
        if not isinstance(username, str) or DB_USER_RE.fullmatch(username) is None:
            raise InvalidRequest("username must be 1-63 characters of letters, digits, _ . @ -")
        password = doc.get("password", "")
        if not isinstance(password, str) or len(password) > 1024 or "\x00" in password:
            raise InvalidRequest("password must be a string of at most 1024 characters")
        roles = string_list(doc, "allowed_roles", default=("*",))
        for r in roles:
            if r != "*":
                validate_name(r, "allowed_roles entry")
        timeout = doc.get("connect_timeout", 5)
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not (0 < timeout <= 60)
        ):
            raise InvalidRequest("connect_timeout must be seconds between 0 and 60")
        verify = doc.get("verify", True)
        if not isinstance(verify, bool):
            raise InvalidRequest("verify must be true or false")
        return cls(plugin, host, port, database, username, password, roles, float(timeout), verify)

    def connection(self) -> Connection:
        return Connection(
            self.plugin, self.host, self.port, self.username, self.password, self.database,
            self.connect_timeout,
        )  # fmt: skip

    def allows(self, role: str) -> bool:
        return "*" in self.allowed_roles or role in self.allowed_roles


def _statements(doc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = string_list(doc, key, max_items=MAX_STATEMENTS)
    for s in items:
        if not s.strip() or len(s) > MAX_STATEMENT_LEN or "\x00" in s:
            raise InvalidRequest(f"{key}: each statement must be 1-{MAX_STATEMENT_LEN} characters")
    return items


def _grants(doc: Mapping[str, Any]) -> tuple[Grant, ...]:
    raw = doc.get("grants", [])
    if not isinstance(raw, list) or len(raw) > 100:
        raise InvalidRequest("grants must be a list of at most 100 {privileges, on} objects")
    out = []
    for i, g in enumerate(raw):
        if not isinstance(g, dict) or set(g) - {"privileges", "on"}:
            raise InvalidRequest(f"grants[{i}] must be an object with privileges and on")
        privileges = string_list(g, "privileges", max_items=20)
        on = g.get("on")
        if not privileges and not (isinstance(on, str) and on.startswith("role:")):
            raise InvalidRequest(f"grants[{i}].privileges must not be empty")
        if not isinstance(on, str) or not 0 < len(on) <= 512:
            raise InvalidRequest(f"grants[{i}].on must be a string such as 'public.items'")
        out.append(Grant(privileges, on))
    return tuple(out)


@dataclass(frozen=True)
class DynamicRole:
    """Users made per lease: grants (safe default) or creation statements, and their TTLs."""

    connection: str
    default_ttl: timedelta
    max_ttl: timedelta
    renewable: bool
    grants: tuple[Grant, ...]
    creation_statements: tuple[str, ...]
    revocation_statements: tuple[str, ...]

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> DynamicRole:
        _unknown(doc, _ROLE_KEYS, "role")
        connection = validate_name(doc.get("connection"), "connection")
        default_ttl = duration(doc, "default_ttl", timedelta(hours=1), timedelta(seconds=1))
        max_ttl = duration(doc, "max_ttl", timedelta(hours=24), timedelta(seconds=1))
        if default_ttl > max_ttl:
            raise InvalidRequest("default_ttl must not exceed max_ttl")
        renewable = doc.get("renewable", True)
        if not isinstance(renewable, bool):
            raise InvalidRequest("renewable must be true or false")
        grants = _grants(doc)
        creation = _statements(doc, "creation_statements")
        revocation = _statements(doc, "revocation_statements")
        if not grants and not creation:
            raise InvalidRequest("a role needs grants or creation_statements")
        if grants and creation:
            raise InvalidRequest("give grants or creation_statements, not both")
        # the engine's own checks, now: a bad template must fail here, not at every revoke
        parse_grants(grants)
        check_templates(creation, CREATE_PLACEHOLDERS)
        check_templates(revocation, REVOKE_PLACEHOLDERS)
        return cls(connection, default_ttl, max_ttl, renewable, grants, creation, revocation)

    def document(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "default_ttl": int(self.default_ttl.total_seconds()),
            "max_ttl": int(self.max_ttl.total_seconds()),
            "renewable": self.renewable,
            "grants": [{"privileges": list(g.privileges), "on": g.on} for g in self.grants],
            "creation_statements": list(self.creation_statements),
            "revocation_statements": list(self.revocation_statements),
        }


@dataclass(frozen=True)
class StaticRole:
    """One existing database user whose password Tessera owns and rotates every period."""

    connection: str
    username: str
    rotation_period: timedelta

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> StaticRole:
        _unknown(doc, _STATIC_KEYS, "static role")
        connection = validate_name(doc.get("connection"), "connection")
        username = doc.get("username")
        if not isinstance(username, str) or DB_USER_RE.fullmatch(username) is None:
            raise InvalidRequest("username must be 1-63 characters of letters, digits, _ . @ -")
        if username.startswith(USER_PREFIX):
            raise InvalidRequest(
                f"a static role's user must not start with {USER_PREFIX!r}: the orphan sweep "
                "drops such users"
            )
        check_username(username)
        period = duration(doc, "rotation_period", timedelta(days=1), timedelta(seconds=5))
        return cls(connection, username, period)

    def document(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "username": self.username,
            "rotation_period": int(self.rotation_period.total_seconds()),
        }


@dataclass(frozen=True)
class ConnectionInfo:
    """A connection as shown to callers: never the password."""

    name: str
    plugin: str
    host: str
    port: int
    database: str
    username: str
    allowed_roles: tuple[str, ...]
    root_rotated_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RoleInfo:
    name: str
    kind: str
    document: Mapping[str, Any]
    last_rotated_at: datetime | None
    next_rotation_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StaticCredentials:
    username: str
    password: str
    last_rotated_at: datetime | None
    next_rotation_at: datetime | None
