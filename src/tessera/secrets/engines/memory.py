"""An in-process `SecretEngine` for unit tests of the lease layer, with failure injection.

It validates every request exactly as the real engines do, keeps users in a dict, and lets a
test make the database unreachable (`available = False`) or make the next N creates, renewals,
revocations or rotations fail with `EngineError`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from tessera.secrets.engines.common import (
    REVOKE_PLACEHOLDERS,
    check_create,
    check_not_connection_user,
    check_password,
    check_prefix,
    check_templates,
    check_username,
    expiration_text,
)
from tessera.secrets.errors import EngineError, EngineUnavailable
from tessera.secrets.ports import (
    Connection,
    CreateUser,
    Grant,
    RenewUser,
    RevokeUser,
    RotatePassword,
)


@dataclass
class MemoryUser:
    """One fake database user; `sessions` counts logins that revoke has not ended yet."""

    password: str
    expires_at: datetime | None = None
    grants: tuple[Grant, ...] = ()
    statements: tuple[str, ...] = ()
    sessions: int = 0


@dataclass
class MemoryEngine:
    """Users in a dict. A connection as a user it knows must carry that user's password (so root
    rotation can be tested); any other login is accepted, as long as `available` is true."""

    root_username: str | None = None
    root_password: str | None = None
    plugin: str = "memory"
    available: bool = True
    fail_next_create: int = 0
    fail_next_renew: int = 0
    fail_next_revoke: int = 0
    fail_next_rotate: int = 0
    users: dict[str, MemoryUser] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # operations reached the database, in order
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.root_username is not None:
            self.users[self.root_username] = MemoryUser(password=self.root_password or "")

    def login(self, username: str, password: str, at: datetime | None = None) -> bool:
        """Whether `username` can log in with `password` (at `at`, if given); opens a session."""
        with self._lock:
            user = self.users.get(username)
            if user is None or user.password != password:
                return False
            if at is not None and user.expires_at is not None and at >= user.expires_at:
                return False
            user.sessions += 1
            return True

    def _connect(self, conn: Connection, operation: str) -> None:
        # Called with the lock held.
        where = f"{conn.host}:{conn.port}"
        if not self.available:
            raise EngineUnavailable(f"cannot connect to {where}: the fake database is down")
        known = self.users.get(conn.username)
        if known is not None and known.password != conn.password:
            raise EngineUnavailable(
                f"cannot connect to {where} as {conn.username}: password authentication failed"
            )
        self.calls.append(operation)

    def _fail(self, counter: str, operation: str) -> None:
        left: int = getattr(self, counter)
        if left > 0:
            setattr(self, counter, left - 1)
            raise EngineError(f"injected failure of {operation}")

    def verify(self, conn: Connection) -> None:
        with self._lock:
            self._connect(conn, "verify")

    def create_user(self, conn: Connection, req: CreateUser) -> None:
        values = check_create(req)
        name, password = values["name"], values["password"]
        with self._lock:
            self._connect(conn, "create_user")
            self._fail("fail_next_create", "create_user")
            if name in self.users:
                raise EngineError(f"user {name} exists already")
            self.users[name] = MemoryUser(
                password, req.expires_at, tuple(req.grants), tuple(req.statements)
            )

    def renew_user(self, conn: Connection, req: RenewUser) -> None:
        name = check_username(req.username)
        expiration_text(req.expires_at)
        with self._lock:
            self._connect(conn, "renew_user")
            self._fail("fail_next_renew", "renew_user")
            if name not in self.users:
                raise EngineError(f"user {name} does not exist")
            self.users[name].expires_at = req.expires_at

    def revoke_user(self, conn: Connection, req: RevokeUser) -> None:
        name = check_username(req.username)
        check_templates(req.statements, REVOKE_PLACEHOLDERS)
        check_not_connection_user(name, conn.username)
        with self._lock:
            self._connect(conn, "revoke_user")
            self._fail("fail_next_revoke", "revoke_user")
            self.users.pop(name, None)

    def rotate_password(self, conn: Connection, req: RotatePassword) -> None:
        name = check_username(req.username)
        password = check_password(req.new_password)
        with self._lock:
            self._connect(conn, "rotate_password")
            self._fail("fail_next_rotate", "rotate_password")
            if name not in self.users:
                raise EngineError(f"user {name} does not exist")
            self.users[name].password = password

    def user_exists(self, conn: Connection, username: str) -> bool:
        name = check_username(username)
        with self._lock:
            self._connect(conn, "user_exists")
            return name in self.users

    def list_users(self, conn: Connection, prefix: str) -> list[str]:
        check_prefix(prefix)
        with self._lock:
            self._connect(conn, "list_users")
            return sorted(n for n in self.users if n.startswith(prefix))
