"""Engine and unit of work for SQLite (embedded default, WAL) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import Context
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tessera.core.errors import InvalidRequest

SQLITE_FILE = "tessera.db"
_PG_MIGRATION_LOCK = 0x7E55E4A  # advisory lock id: one node migrates at a time


@dataclass(frozen=True)
class DatabaseConfig:
    """Either an explicit SQLAlchemy URL or a data directory holding the SQLite file."""

    url: str | None = None
    data_dir: Path | None = None
    pool_size: int = 10

    def resolved_url(self) -> str:
        if self.url:
            return normalise_url(self.url)
        if self.data_dir is None:
            raise InvalidRequest("either a database URL or a data directory is required")
        return f"sqlite:///{(self.data_dir / SQLITE_FILE).resolve()}"


def normalise_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` and pick the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy raises ArgumentError with the URL (maybe a password) in it
        raise InvalidRequest("the database URL is not a valid URL") from None
    name = parsed.drivername
    if name in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif not (name.startswith("postgresql") or name.startswith("sqlite")):
        raise InvalidRequest(f"unsupported database {name!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


class Database:
    """Owns the engine; hands out sessions whose transaction commits on success."""

    def __init__(self, config: DatabaseConfig) -> None:
        url = config.resolved_url()
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        self._before_commit: list[Callable[[], None]] = []
        if self.is_sqlite:
            path = Path(make_url(url).database or "")
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.engine = create_engine(
                url,
                connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 30},
                pool_size=config.pool_size,
                max_overflow=config.pool_size,
                hide_parameters=True,  # bound values (hashes, ciphertexts) never reach logs
            )
            _install_sqlite_hooks(self.engine)
        else:
            self.engine = create_engine(
                url,
                pool_size=config.pool_size,
                max_overflow=config.pool_size,
                pool_pre_ping=True,
                hide_parameters=True,
            )

    @contextmanager
    def session(
        self, *, write: bool = False, on_behalf: Sequence[Context] = ()
    ) -> Iterator[Session]:
        """A session in one transaction; `write=True` takes SQLite's write lock up front.
        `on_behalf`: a write that carries the work of several requests (group commit) runs
        the before-commit hooks once in each request's context."""
        # SQLite admits one writer: queue this process's writers on a lock instead of in
        # SQLite's busy handler, whose sleeping back-off gave seconds of tail latency.
        lock = self._write_lock if (write and self.is_sqlite) else contextlib.nullcontext()
        with lock, self.engine.connect() as conn:
            conn.execution_options(tessera_write=write)
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session
                if write:
                    for hook in self._before_commit:
                        # raising here rolls the transaction back
                        if on_behalf:
                            for ctx in on_behalf:
                                ctx.run(hook)
                        else:
                            hook()

    def before_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` as the last step of every write transaction; if it raises, nothing is
        committed (the audit trail uses this to record a change before it is applied)."""
        self._before_commit.append(hook)

    def migrate(self) -> None:
        """Apply Alembic migrations up to head; safe to call on every start and from many nodes."""
        from tessera.storage.migrate import upgrade

        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
            try:
                upgrade(conn)
            finally:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    conn.commit()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any driver failure means "not reachable" for health
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # pysqlite's implicit transactions are off (isolation_level=None); we open them ourselves
        # so a writer takes the lock before reading instead of failing on lock upgrade.
        write = conn.get_execution_options().get("tessera_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
