"""SecretEngine contract: every engine through the same cases, against real PostgreSQL and MariaDB.

Each real backend makes its own admin login (PostgreSQL: LOGIN CREATEROLE, owner of a fresh
schema; MariaDB: ALL ON *.* WITH GRANT OPTION, with a fresh database) and uses that as the
engine's `Connection`; the real `postgres` / `root` accounts are never changed. The in-memory
fake runs the cases that do not need SQL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import time
from base64 import b64decode
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest

from tessera.core.errors import InvalidRequest
from tessera.secrets.engines import engine_for
from tessera.secrets.engines.memory import MemoryEngine
from tessera.secrets.engines.mysql import quote_identifier
from tessera.secrets.errors import EngineError, EngineUnavailable
from tessera.secrets.ports import (
    Connection,
    CreateUser,
    Grant,
    RenewUser,
    RevokeUser,
    RotatePassword,
    SecretEngine,
)
from tests.conftest import free_port, mysql_admin_url, postgres_admin_url

ALL = ["postgresql", "mysql", "memory"]
REAL = ["postgresql", "mysql"]
EXPIRES = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


def new_password() -> str:
    return secrets.token_urlsafe(30)


class Backend:
    """One engine plus what the tests need to look at its database from outside."""

    plugin: str
    engine: SecretEngine
    conn: Connection
    tag: str
    granted = other = missing = injection = ""  # SELECT granted / not granted / no such table

    def name(self, suffix: str = "") -> str:
        return f"tdb_{self.tag}_{suffix or secrets.token_hex(3)}"

    def login_ok(self, user: str, password: str) -> bool:
        """The database accepts exactly this password for `user`."""
        raise NotImplementedError


class PgBackend(Backend):
    plugin = "postgresql"

    def __init__(self, url: str) -> None:
        self.dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        parts, tag = urlsplit(self.dsn), secrets.token_hex(4)
        self.tag, self.engine = tag, engine_for("postgresql")
        self.admin, self.schema, self.role = f"tadm_{tag}", f"ts_{tag}", f"trl_{tag}"
        host, port, db = parts.hostname or "127.0.0.1", parts.port or 5432, parts.path[1:]
        self.conn = Connection("postgresql", host, port, self.admin, new_password(), db, 2)
        self.granted, self.other, self.missing = f"ts_{tag}.t1", f"ts_{tag}.t2", f"ts_{tag}.nope"
        self.injection = f'ts_{tag}.t1"; DROP TABLE x; --'
        user = '"{{name}}"'
        self.templates = [
            f"CREATE ROLE {user} WITH LOGIN PASSWORD '{{{{password}}}}'"
            " VALID UNTIL '{{expiration}}';"
            f" GRANT USAGE ON SCHEMA ts_{tag} TO {user}; GRANT SELECT ON {self.granted} TO {user}"
        ]
        self.revoke_templates = [f"DROP OWNED BY {user}", f"DROP ROLE {user}"]
        self.bogus = f"CREATE ROLE {user} WITH LOGIN PASSWORD '{{{{password}}}}' BOGUS"

    def su(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True)

    def connect_as(self, user: str, password: str) -> psycopg.Connection[Any]:
        c = self.conn
        dsn = f"host={c.host} port={c.port} dbname={c.database} connect_timeout=2"
        return psycopg.connect(dsn, user=user, password=password, autocommit=True)

    def setup(self) -> None:
        a, s, pw = self.admin, self.schema, self.conn.password  # test-made names: no quoting
        with self.su() as su:
            su.execute(f"CREATE ROLE {a} LOGIN CREATEROLE PASSWORD '{pw}'")
            su.execute(f"CREATE SCHEMA {s} AUTHORIZATION {a}")
            # So that an injected unqualified `DROP TABLE x` would hit the table the test watches.
            su.execute(f"ALTER ROLE {a} SET search_path = {s}, public")
        with self.connect_as(a, pw) as db:
            for statement in (
                f"CREATE TABLE {s}.t1 (id int)", f"CREATE TABLE {s}.t2 (id int)",
                f"CREATE TABLE {s}.x (id int)", f"CREATE ROLE {self.role}",
                f"GRANT USAGE ON SCHEMA {s} TO {self.role}",
                f"GRANT SELECT ON {s}.t2 TO {self.role}",
            ):  # fmt: skip
                db.execute(statement)

    def teardown(self) -> None:
        with self.su() as su:
            rows = su.execute(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) OR rolname = ANY(%s)",
                (f"tdb_{self.tag}_", [self.role, self.admin]),
            ).fetchall()
            su.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            for (role,) in sorted(rows, key=lambda r: r[0] == self.admin):
                su.execute(f"DROP OWNED BY {role}")
                su.execute(f"DROP ROLE {role}")

    def enforces_passwords(self) -> bool:
        try:
            self.connect_as(self.admin, "wrong-" + new_password()).close()
        except psycopg.OperationalError:
            return True
        return False

    def login_ok(self, user: str, password: str) -> bool:
        try:
            self.connect_as(user, password).close()
        except psycopg.OperationalError:
            return False
        if self.enforces_passwords():
            return True
        # This server trusts loopback logins: check the stored SCRAM verifier instead.
        return scram_matches(str(self.catalog("rolpassword", "pg_authid", user)), password)

    def catalog(self, column: str, table: str, role: str) -> Any:
        with self.su() as su:
            row = su.execute(f"SELECT {column} FROM {table} WHERE rolname = %s", (role,)).fetchone()
        assert row is not None
        return row[0]

    def can_run(self, user: str, password: str, statement: str) -> bool:
        with self.connect_as(user, password) as db:
            try:
                db.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                return False
        return True

    def session(self, user: str, password: str) -> psycopg.Connection[Any]:
        return self.connect_as(user, password)

    def alive(self, session: Any) -> bool:
        try:
            session.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def table_x_exists(self) -> bool:
        with self.su() as su:
            row = su.execute("SELECT to_regclass(%s)", (f"{self.schema}.x",)).fetchone()
        return row is not None and row[0] is not None


def scram_matches(verifier: str, password: str) -> bool:
    """Check a PostgreSQL `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey` verifier (RFC 5802)."""
    method, _, rest = verifier.partition("$")
    if method != "SCRAM-SHA-256":
        return False
    params, keys = rest.split("$")
    iterations, salt = params.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = b64decode(keys.split(":")[0])
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


class MySQLBackend(Backend):
    plugin = "mysql"

    def __init__(self, url: str) -> None:
        parts, tag = urlsplit(url), secrets.token_hex(4)
        self.root_login = (parts.username or "root", parts.password or "")
        self.tag, self.engine = tag, engine_for("mysql")
        self.admin, self.db, self.role = f"tadm_{tag}", f"tdbt_{tag}", f"trl_{tag}"
        host, port = parts.hostname or "127.0.0.1", parts.port or 3306
        self.conn = Connection("mysql", host, port, self.admin, new_password(), self.db, 2)
        self.granted, self.other, self.missing = f"{self.db}.t1", f"{self.db}.t2", f"{self.db}.nope"
        self.injection = f"{self.db}.t1`; DROP TABLE x; -- "
        self.templates = [
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"
            f" GRANT SELECT ON {self.granted} TO '{{{{name}}}}'@'%'"
        ]
        self.revoke_templates = ["DROP USER '{{name}}'@'%'"]
        self.bogus = "CREATE USER '{{name}}'@'%' BOGUS IDENTIFIED BY '{{password}}'"

    def connect_as(self, user: str, password: str, db: str | None = None) -> Any:
        c = self.conn
        return pymysql.connect(
            host=c.host, port=c.port, user=user, password=password, database=db,
            connect_timeout=2, autocommit=True,
        )  # fmt: skip

    def run_root(self, *statements: str) -> list[tuple[Any, ...]]:
        with self.connect_as(*self.root_login) as db, db.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return list(cur.fetchall())

    def setup(self) -> None:
        account, db, role = f"'{self.admin}'@'%'", self.db, self.role
        self.run_root(
            f"CREATE USER {account} IDENTIFIED BY '{self.conn.password}'",
            f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION",
            f"CREATE DATABASE {db}",
        )
        with self.connect_as(self.admin, self.conn.password, db) as conn, conn.cursor() as cur:
            # The admin makes the role, so it holds it WITH ADMIN OPTION and may grant it.
            for statement in (
                "CREATE TABLE t1 (id int)", "CREATE TABLE t2 (id int)", "CREATE TABLE x (id int)",
                f"CREATE ROLE {role}", f"GRANT SELECT ON {db}.t2 TO {role}",
            ):  # fmt: skip
                cur.execute(statement)

    def teardown(self) -> None:
        ours = (f"tdb_{self.tag}_", self.admin, self.role)
        rows = self.run_root("SELECT User, Host FROM mysql.user")
        drops = [f"DROP USER IF EXISTS '{u}'@'{h}'" for u, h in rows if u.startswith(ours)]
        self.run_root(*drops, f"DROP ROLE IF EXISTS {self.role}", f"DROP DATABASE {self.db}")

    def login_ok(self, user: str, password: str) -> bool:
        try:
            self.connect_as(user, password).close()
        except pymysql.err.OperationalError:
            return False
        return True

    def can_run(self, user: str, password: str, statement: str) -> bool:
        with self.connect_as(user, password, self.db) as db, db.cursor() as cur:
            try:
                cur.execute(statement)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] in (1142, 1143, 1044):  # command / column / database denied
                    return False
                raise
        return True

    def session(self, user: str, password: str) -> Any:
        return self.connect_as(user, password)

    def alive(self, session: Any) -> bool:
        try:
            with session.cursor() as cur:
                cur.execute("SELECT 1")
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
            return False
        return True

    def table_x_exists(self) -> bool:
        return bool(self.run_root(f"SHOW TABLES FROM {self.db} LIKE 'x'"))


class MemoryBackend(Backend):
    plugin = "memory"

    def __init__(self) -> None:
        self.tag, password = secrets.token_hex(4), new_password()
        self.fake = MemoryEngine(root_username="tessera_root", root_password=password)
        self.engine = self.fake
        self.conn = Connection("postgresql", "127.0.0.1", 5432, "tessera_root", password, "db")
        self.granted = "public.t1"

    def login_ok(self, user: str, password: str) -> bool:
        return self.fake.login(user, password)


Real = PgBackend | MySQLBackend


def _real(backend: Real) -> Iterator[Backend]:
    backend.setup()
    try:
        yield backend
    finally:
        backend.teardown()


@pytest.fixture(scope="module")
def postgresql_backend() -> Iterator[Backend]:
    yield from _real(PgBackend(postgres_admin_url()))


@pytest.fixture(scope="module")
def mysql_backend() -> Iterator[Backend]:
    yield from _real(MySQLBackend(mysql_admin_url()))


@pytest.fixture
def memory_backend() -> Backend:
    return MemoryBackend()


@pytest.fixture(params=ALL)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


@pytest.fixture(params=REAL)
def real(request: pytest.FixtureRequest) -> Real:
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


def create(b: Backend, grants: tuple[Grant, ...] = (), **kw: Any) -> tuple[str, str]:
    name, password = b.name(), new_password()
    b.engine.create_user(b.conn, CreateUser(name, password, EXPIRES, grants, **kw))
    return name, password


def select(table: str) -> str:
    return f"SELECT * FROM {table}"


# --- every engine -------------------------------------------------------------------------


def test_verify_and_create_user_that_logs_in(backend: Backend) -> None:
    backend.engine.verify(backend.conn)
    name, password = create(backend, (Grant(("select",), backend.granted),))
    assert backend.engine.user_exists(backend.conn, name)
    assert backend.login_ok(name, password)
    assert not backend.login_ok(name, new_password())


def test_revoke_is_idempotent(backend: Backend) -> None:
    name, password = create(backend)
    backend.engine.revoke_user(backend.conn, RevokeUser(name))
    assert not backend.engine.user_exists(backend.conn, name)
    assert not backend.login_ok(name, password)
    backend.engine.revoke_user(backend.conn, RevokeUser(name))
    backend.engine.revoke_user(backend.conn, RevokeUser(backend.name()))  # never existed


def test_rotate_password(backend: Backend) -> None:
    name, old = create(backend)
    new = new_password()
    backend.engine.rotate_password(backend.conn, RotatePassword(name, new))
    assert backend.login_ok(name, new)
    assert not backend.login_ok(name, old)


def test_rotate_root_password(backend: Backend) -> None:
    old, new = backend.conn.password, new_password()
    backend.engine.rotate_password(backend.conn, RotatePassword(backend.conn.username, new))
    backend.conn = replace(backend.conn, password=new)
    assert backend.login_ok(backend.conn.username, new)
    assert not backend.login_ok(backend.conn.username, old)
    backend.engine.verify(backend.conn)


def test_list_users_matches_prefix_literally(backend: Backend) -> None:
    prefix = backend.name("a_")
    wanted = [prefix + "1", prefix + "2"]
    decoy = backend.name("ab1")  # LIKE 'a_%' would match it
    for name in [*wanted, decoy]:
        backend.engine.create_user(backend.conn, CreateUser(name, new_password(), EXPIRES))
    assert backend.engine.list_users(backend.conn, prefix) == wanted
    assert decoy in backend.engine.list_users(backend.conn, f"tdb_{backend.tag}_")


BAD_CREATES = [
    CreateUser('tdb_x"; DROP TABLE x; --', "p" * 40, EXPIRES),
    CreateUser("TDB_upper", "p" * 40, EXPIRES),
    CreateUser("tdb_ok", "pw'; DROP TABLE x; --" + "p" * 20, EXPIRES),
    CreateUser("tdb_ok", "short", EXPIRES),
    CreateUser("tdb_ok", "p" * 40, EXPIRES.replace(tzinfo=None)),
    CreateUser("tdb_ok", "p" * 40, EXPIRES, statements=["CREATE ROLE {{unknown}}"]),
    CreateUser("tdb_ok", "p" * 40, EXPIRES, (Grant(("SELECT; DROP",), "a.b"),)),
    CreateUser("tdb_ok", "p" * 40, EXPIRES, (Grant(("SELECT",), "nodot"),)),
]


def test_bad_input_refused_before_any_sql(backend: Backend) -> None:
    # Pointing at a closed port proves no connection was even tried.
    nowhere = replace(backend.conn, port=free_port())
    if isinstance(backend.engine, MemoryEngine):
        backend.engine.available = False
    for bad in BAD_CREATES:
        with pytest.raises(InvalidRequest):
            backend.engine.create_user(nowhere, bad)
    with pytest.raises(InvalidRequest):
        backend.engine.revoke_user(nowhere, RevokeUser("tdb_ok", ["DROP {{password}}"]))
    with pytest.raises(InvalidRequest):
        backend.engine.rotate_password(nowhere, RotatePassword("tdb_ok", "x'--" * 10))
    with pytest.raises(InvalidRequest):
        backend.engine.list_users(nowhere, "tdb_%")
    with pytest.raises(InvalidRequest):
        backend.engine.revoke_user(nowhere, RevokeUser(nowhere.username))


@pytest.mark.timeout(15)
def test_unreachable_database(backend: Backend) -> None:
    nowhere = replace(backend.conn, port=free_port())
    if isinstance(backend.engine, MemoryEngine):
        backend.engine.available = False
    with pytest.raises(EngineUnavailable) as caught:
        backend.engine.verify(nowhere)
    assert f"{nowhere.host}:{nowhere.port}" in str(caught.value)
    assert nowhere.password not in str(caught.value)


def test_wrong_password(backend: Backend) -> None:
    wrong = replace(backend.conn, password=new_password())
    if isinstance(backend, PgBackend) and not backend.enforces_passwords():
        # A server that trusts loopback takes any password; an unknown login still fails.
        wrong = replace(wrong, username=backend.name())
    with pytest.raises(EngineUnavailable) as caught:
        backend.engine.create_user(wrong, CreateUser(backend.name(), new_password(), EXPIRES))
    assert wrong.password not in str(caught.value)
    assert str(wrong.port) in str(caught.value)


# --- real databases -----------------------------------------------------------------------


def test_grants_are_exactly_what_was_asked(real: Real) -> None:
    name, password = create(real, (Grant(("SELECT",), real.granted),))
    assert real.can_run(name, password, select(real.granted))
    assert not real.can_run(name, password, f"INSERT INTO {real.granted} VALUES (1)")
    assert not real.can_run(name, password, select(real.other))


def test_schema_wide_and_role_grants(real: Real) -> None:
    container = real.granted.split(".")[0]
    role = f"role:trl_{real.tag}"
    name, password = create(real, (Grant(("select", "insert"), f"{container}.*"),))
    assert real.can_run(name, password, f"INSERT INTO {real.other} VALUES (2)")
    name, password = create(real, (Grant((), role),))
    assert real.can_run(name, password, select(real.other))
    assert not real.can_run(name, password, select(real.granted))


def test_revoke_ends_open_sessions(real: Real) -> None:
    name, password = create(real, (Grant(("SELECT",), real.granted),))
    session = real.session(name, password)
    try:
        assert real.alive(session)
        real.engine.revoke_user(real.conn, RevokeUser(name))
        # MariaDB's KILL only flags the session; give the server a bounded moment to close it.
        deadline = time.monotonic() + 5
        while real.alive(session) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not real.alive(session)
    finally:
        session.close()
    assert not real.login_ok(name, password)
    assert not real.engine.user_exists(real.conn, name)
    real.engine.revoke_user(real.conn, RevokeUser(name))


def test_failing_grant_leaves_no_user(real: Real) -> None:
    name, password = real.name(), new_password()
    grants = (Grant(("SELECT",), real.granted), Grant(("SELECT",), real.missing))
    with pytest.raises(EngineError) as caught:
        real.engine.create_user(real.conn, CreateUser(name, password, EXPIRES, grants))
    assert "nope" in str(caught.value)
    assert not real.engine.user_exists(real.conn, name)


def test_grant_target_cannot_inject(real: Real) -> None:
    name = real.name()
    grant = Grant(("SELECT",), real.injection)
    with pytest.raises(EngineError):
        real.engine.create_user(real.conn, CreateUser(name, new_password(), EXPIRES, (grant,)))
    assert real.table_x_exists()
    assert not real.engine.user_exists(real.conn, name)


def test_existing_user_is_not_replaced(real: Real) -> None:
    name, password = create(real)
    with pytest.raises(EngineError):
        real.engine.create_user(real.conn, CreateUser(name, new_password(), EXPIRES))
    assert real.login_ok(name, password)


def test_custom_statements(real: Real) -> None:
    name, password = create(real, statements=real.templates)
    assert real.can_run(name, password, select(real.granted))
    assert not real.can_run(name, password, select(real.other))
    real.engine.revoke_user(real.conn, RevokeUser(name, real.revoke_templates))
    assert not real.engine.user_exists(real.conn, name)


def test_database_errors_never_echo_passwords(real: Real) -> None:
    name, password = real.name(), new_password()
    with pytest.raises(EngineError) as caught:
        real.engine.create_user(real.conn, CreateUser(name, password, EXPIRES, (), [real.bogus]))
    assert "BOGUS" in str(caught.value).upper()
    assert password not in str(caught.value) and password not in repr(caught.value.__dict__)
    assert not real.engine.user_exists(real.conn, name)


@pytest.mark.timeout(20)
def test_connect_timeout_is_honoured(real: Real) -> None:
    # A socket that accepts TCP but never answers: only connect_timeout ends the wait.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        conn = replace(real.conn, port=silent.getsockname()[1], connect_timeout=1)
        with pytest.raises(EngineUnavailable) as caught:
            real.engine.verify(conn)
    assert conn.password not in str(caught.value)


def test_postgres_valid_until_follows_lease(postgresql_backend: Backend) -> None:
    b = postgresql_backend
    assert isinstance(b, PgBackend)
    name, _ = create(b)
    assert b.catalog("rolvaliduntil", "pg_roles", name) == EXPIRES
    later = EXPIRES + timedelta(days=3, microseconds=250)
    b.engine.renew_user(b.conn, RenewUser(name, later.astimezone(timezone(timedelta(hours=2)))))
    assert b.catalog("rolvaliduntil", "pg_roles", name) == later


def test_mysql_renew_is_a_no_op_that_checks_its_input(mysql_backend: Backend) -> None:
    b = mysql_backend
    name, password = create(b)
    b.engine.renew_user(b.conn, RenewUser(name, EXPIRES + timedelta(days=1)))
    assert b.login_ok(name, password)
    with pytest.raises(InvalidRequest):
        b.engine.renew_user(b.conn, RenewUser("bad-name", EXPIRES))
    assert quote_identifier("a`b") == "`a``b`"


# --- the fake's failure injection ---------------------------------------------------------


def test_memory_failure_injection(memory_backend: Backend) -> None:
    b = memory_backend
    fake = b.engine
    assert isinstance(fake, MemoryEngine)
    fake.fail_next_create = 1
    name, password = b.name(), new_password()
    with pytest.raises(EngineError):
        fake.create_user(b.conn, CreateUser(name, password, EXPIRES))
    assert not fake.user_exists(b.conn, name)
    fake.create_user(b.conn, CreateUser(name, password, EXPIRES))
    fake.fail_next_revoke = 2
    for _ in range(2):
        with pytest.raises(EngineError):
            fake.revoke_user(b.conn, RevokeUser(name))
    assert fake.user_exists(b.conn, name)
    fake.available = False
    with pytest.raises(EngineUnavailable):
        fake.revoke_user(b.conn, RevokeUser(name))
    fake.available = True
    fake.revoke_user(b.conn, RevokeUser(name))
    assert not fake.user_exists(b.conn, name)
    assert fake.calls.count("revoke_user") == 3
