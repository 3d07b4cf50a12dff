"""Database connections: settings sealed by the barrier, the engine call wrapper, root rotation.

A root rotation writes the new password as `pending` (committed) before changing it in the
database, so a crash in between never loses the login: the next use tries the pending one."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.barrier.aead import AAD
from tessera.barrier.service import Barrier
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import NotFound
from tessera.core.randomness import Randomness
from tessera.secrets.db_models import ConnectionConfig, ConnectionInfo
from tessera.secrets.engines import engine_for
from tessera.secrets.errors import EngineUnavailable
from tessera.secrets.ports import Connection, RotatePassword, SecretEngine
from tessera.storage.db import Database
from tessera.storage.models_secrets import DbConnectionRow

T = TypeVar("T")


def new_password(rng: Randomness) -> str:
    """32 characters of [A-Za-z0-9_-] (192 bits); safe inside any SQL literal."""
    return base64.urlsafe_b64encode(rng.token_bytes(24)).decode().rstrip("=")


def _aad(name: str, column: str) -> AAD:
    return AAD("db_connections", name, column)


def info(row: DbConnectionRow) -> ConnectionInfo:
    rotated = None if row.root_rotated_at is None else as_utc(row.root_rotated_at)
    return ConnectionInfo(
        row.name, row.plugin, row.host, row.port, row.database, row.username,
        tuple(row.allowed_roles), rotated, as_utc(row.created_at), as_utc(row.updated_at),
    )  # fmt: skip


class Connections:
    """Loads connection settings, runs engine operations, rotates the root password."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        barrier: Barrier,
        engines: Callable[[str], SecretEngine] = engine_for,
    ) -> None:
        self.engine_for = engines
        self._db = db
        self._clock = clock
        self._rng = rng
        self._barrier = barrier

    def seal(self, name: str, column: str, password: str) -> bytes:
        return self._barrier.encrypt(_aad(name, column), password.encode())

    def store(self, s: Session, name: str, cfg: ConnectionConfig, now: datetime) -> None:
        """Insert or replace the connection row inside the caller's transaction."""
        row = s.get(DbConnectionRow, name)
        if row is None:
            row = DbConnectionRow(name=name, created_at=now, root_rotated_at=None)
            s.add(row)
        row.plugin, row.host, row.port = cfg.plugin, cfg.host, cfg.port
        row.database, row.username = cfg.database, cfg.username
        row.password = self.seal(name, "password", cfg.password)
        row.pending_password = None
        row.allowed_roles = list(cfg.allowed_roles)
        row.options = {"connect_timeout": cfg.connect_timeout}
        row.updated_at = now

    def row(self, s: Session, name: str) -> DbConnectionRow:
        row = s.get(DbConnectionRow, name)
        if row is None:
            raise NotFound(f"database connection {name!r} does not exist")
        return row

    def names(self) -> list[str]:
        with self._db.session() as s:
            return list(s.scalars(select(DbConnectionRow.name).order_by(DbConnectionRow.name)))

    def _connection(self, row: DbConnectionRow, column: str) -> Connection:
        blob = row.password if column == "password" else row.pending_password
        assert blob is not None
        password = self._barrier.decrypt(_aad(row.name, column), blob).decode()
        timeout = float(row.options.get("connect_timeout", 5))
        return Connection(
            row.plugin, row.host, row.port, row.username, password, row.database, timeout
        )

    def run(self, name: str, op: Callable[[SecretEngine, Connection], T]) -> T:
        """Run `op` against the named database; repairs a root rotation a crash interrupted."""
        with self._db.session() as s:
            row = self.row(s, name)
        engine = self.engine_for(row.plugin)
        try:
            return op(engine, self._connection(row, "password"))
        except EngineUnavailable:
            if row.pending_password is None:
                raise
        # The stored password failed and a rotation was in flight: it may have reached the DB.
        result = op(engine, self._connection(row, "pending_password"))
        self._promote_pending(name, row.pending_password)
        return result

    def _promote_pending(self, name: str, pending: bytes | None) -> None:
        with self._db.session(write=True) as s:
            row = self.row(s, name)
            if row.pending_password is not None and row.pending_password == pending:
                password = self._barrier.decrypt(_aad(name, "pending_password"), pending)
                row.password = self.seal(name, "password", password.decode())
                row.pending_password = None
                row.root_rotated_at = row.updated_at = self._clock.now()

    def rotate_root(self, name: str) -> ConnectionInfo:
        """New root password only Tessera knows: pending (committed) → ALTER → promoted.
        A pending password left by an interrupted rotation is applied again, never replaced:
        the database may already hold it."""
        with self._db.session(write=True) as s:
            row = s.get(DbConnectionRow, name, with_for_update=True)
            if row is None:
                raise NotFound(f"database connection {name!r} does not exist")
            if row.pending_password is None:
                row.pending_password = self.seal(name, "pending_password", new_password(self._rng))
            pending = row.pending_password
            username = row.username
        password = self._barrier.decrypt(_aad(name, "pending_password"), pending).decode()
        req = RotatePassword(username, password)
        self.run(name, lambda e, c: e.rotate_password(c, req))
        self._promote_pending(name, pending)
        with self._db.session() as s:
            return info(self.row(s, name))
