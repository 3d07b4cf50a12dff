"""MySQL and MariaDB secrets engine (pymysql): accounts `'name'@'%'`, one plugin for both.

MySQL has no `VALID UNTIL`: a dynamic user stays valid until Tessera's lease expiry drops it, so
`renew_user` only checks its input. DDL commits implicitly in MySQL, so `create_user` cannot be
one transaction; when a step fails it drops the account it made before reporting the error.
Account names and passwords are checked against their closed alphabet and then quoted with
`escape_string`; database, table and role names are quoted as back-ticked identifiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pymysql
from pymysql.converters import escape_string
from pymysql.cursors import Cursor

from tessera.core.errors import InvalidRequest
from tessera.secrets.engines.common import (
    REVOKE_PLACEHOLDERS,
    ParsedGrant,
    Target,
    check_create,
    check_not_connection_user,
    check_password,
    check_prefix,
    check_templates,
    check_username,
    expiration_text,
    parse_grants,
    render,
    scrub,
    split_statements,
)
from tessera.secrets.errors import EngineError, EngineUnavailable
from tessera.secrets.ports import Connection, CreateUser, RenewUser, RevokeUser, RotatePassword

# TRUNCATE and CONNECT have no MySQL privilege; TEMPORARY is spelled out.
_PRIVILEGES: dict[str, str] = {
    "SELECT": "SELECT",
    "INSERT": "INSERT",
    "UPDATE": "UPDATE",
    "DELETE": "DELETE",
    "REFERENCES": "REFERENCES",
    "TRIGGER": "TRIGGER",
    "USAGE": "USAGE",
    "EXECUTE": "EXECUTE",
    "CREATE": "CREATE",
    "TEMPORARY": "CREATE TEMPORARY TABLES",
    "ALL": "ALL PRIVILEGES",
}
_SSL_OPTIONS = frozenset({"ssl_ca", "ssl_cert", "ssl_key"})
_BOOL_OPTIONS = frozenset({"ssl_verify_cert", "ssl_verify_identity"})
_UNKNOWN_THREAD = 1094  # KILL of a session that ended meanwhile
_FIRST_CLIENT_ERROR, _LAST_CLIENT_ERROR = 2000, 2999  # the connection itself failed


def quote_identifier(name: str) -> str:
    """A back-ticked MySQL identifier; a back-tick inside is doubled."""
    return "`" + name.replace("`", "``") + "`"


def _literal(value: str) -> str:
    return "'" + escape_string(value) + "'"


def _account(user: str, host: str = "%") -> str:
    return f"{_literal(user)}@{_literal(host)}"


def _grant_sql(account: str, grant: ParsedGrant) -> list[str]:
    if grant.target is Target.ROLE:
        role = quote_identifier(grant.container)
        return [f"GRANT {role} TO {account}", f"SET DEFAULT ROLE {role} FOR {account}"]
    missing = [p for p in grant.privileges if p not in _PRIVILEGES]
    if missing:
        raise InvalidRequest(f"MySQL has no privilege {missing[0]}", field="grants")
    privileges = ", ".join(_PRIVILEGES[p] for p in grant.privileges)
    table = "*" if grant.target is Target.ALL_TABLES else quote_identifier(grant.table)
    return [f"GRANT {privileges} ON {quote_identifier(grant.container)}.{table} TO {account}"]


@dataclass(frozen=True)
class _TLS:
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_cert: bool | None = None
    ssl_verify_identity: bool | None = None


def _options(conn: Connection) -> _TLS:
    """The TLS settings `Connection.options` may carry; any other key is refused."""
    paths: dict[str, str] = {}
    flags: dict[str, bool] = {}
    for key, value in conn.options.items():
        if key in _SSL_OPTIONS:
            paths[key] = value
        elif key in _BOOL_OPTIONS:
            flags[key] = value.lower() in ("1", "true", "yes")
        else:
            raise InvalidRequest(f"unknown MySQL connection option {key[:32]!r}")
    return _TLS(
        ssl_ca=paths.get("ssl_ca"),
        ssl_cert=paths.get("ssl_cert"),
        ssl_key=paths.get("ssl_key"),
        ssl_verify_cert=flags.get("ssl_verify_cert"),
        ssl_verify_identity=flags.get("ssl_verify_identity"),
    )


class MySQLEngine:
    """Creates, rotates and drops MySQL/MariaDB accounts; the connection's user needs
    `CREATE USER`, grant rights on what accounts receive, and `CONNECTION ADMIN` (or `SUPER`)
    to end sessions."""

    plugin = "mysql"

    @contextmanager
    def _session(self, conn: Connection, secrets: Iterable[str] = ()) -> Iterator[Cursor]:
        hidden = [conn.password, *secrets]
        where = f"{conn.host}:{conn.port}"
        options = _options(conn)
        try:
            db = pymysql.connect(
                host=conn.host,
                port=conn.port,
                user=conn.username,
                password=conn.password,
                database=conn.database or None,
                connect_timeout=conn.connect_timeout,
                # pymysql's connect_timeout covers only the TCP connect; these bound the wait for
                # the server's greeting (a server that accepts but never answers) and each reply.
                read_timeout=conn.connect_timeout,
                write_timeout=conn.connect_timeout,
                autocommit=True,
                charset="utf8mb4",
                ssl_ca=options.ssl_ca,
                ssl_cert=options.ssl_cert,
                ssl_key=options.ssl_key,
                ssl_verify_cert=options.ssl_verify_cert,
                ssl_verify_identity=options.ssl_verify_identity,
            )
        except pymysql.MySQLError as exc:
            raise EngineUnavailable(
                f"cannot connect to MySQL at {where} as {conn.username}: {_reason(exc, hidden)}"
            ) from None
        try:
            with db.cursor() as cursor:
                yield cursor
        except pymysql.MySQLError as exc:
            if _is_client_error(exc):
                raise EngineUnavailable(
                    f"lost the connection to MySQL at {where}: {_reason(exc, hidden)}"
                ) from None
            raise EngineError(f"MySQL at {where}: {_reason(exc, hidden)}") from None
        finally:
            db.close()

    def verify(self, conn: Connection) -> None:
        """Connect and run `SELECT 1`."""
        with self._session(conn) as cursor:
            cursor.execute("SELECT 1")

    def create_user(self, conn: Connection, req: CreateUser) -> None:
        """Create `'name'@'%'` and its grants (or run `statements`); on failure drop it again.

        An account that exists already is refused untouched."""
        values = check_create(req)
        name, password = values["name"], values["password"]
        if req.statements:
            queries = [q for text in render(req.statements, values) for q in split_statements(text)]
        else:
            account = _account(name)
            queries = [f"CREATE USER {account} IDENTIFIED BY {_literal(password)}"]
            for grant in parse_grants(req.grants):
                queries.extend(_grant_sql(account, grant))
        with self._session(conn, [password]) as cursor:
            if _hosts(cursor, name):
                raise EngineError(f"MySQL user {name} exists already")
            try:
                for query in queries:
                    cursor.execute(query)
            except pymysql.MySQLError as exc:
                if _is_client_error(exc):
                    raise
                try:
                    _drop_all(cursor, name)
                except pymysql.MySQLError as cleanup:
                    hidden = [conn.password, password]
                    raise EngineError(
                        f"MySQL at {conn.host}:{conn.port}: {_reason(exc, hidden)}; dropping the"
                        f" half-made user {name} failed too: {_reason(cleanup, hidden)}"
                    ) from None
                raise

    def renew_user(self, conn: Connection, req: RenewUser) -> None:
        """No-op: MySQL accounts have no end of validity (the lease expiry drops the user)."""
        check_username(req.username)
        expiration_text(req.expires_at)

    def revoke_user(self, conn: Connection, req: RevokeUser) -> None:
        """Lock every host row of the user, end its sessions, then drop it (or run `statements`).

        A user that does not exist is already revoked."""
        name = check_username(req.username)
        check_templates(req.statements, REVOKE_PLACEHOLDERS)
        check_not_connection_user(name, conn.username)
        custom = [
            q for text in render(req.statements, {"name": name}) for q in split_statements(text)
        ]
        with self._session(conn) as cursor:
            hosts = _hosts(cursor, name)
            for host in hosts:
                cursor.execute(f"ALTER USER {_account(name, host)} ACCOUNT LOCK")
            _kill_sessions(cursor, name)
            if not hosts:
                return
            if custom:
                for query in custom:
                    cursor.execute(query)
            else:
                _drop_all(cursor, name)

    def rotate_password(self, conn: Connection, req: RotatePassword) -> None:
        """Set the password of every host row of the user; works on the connection's own user."""
        name = check_username(req.username)
        password = check_password(req.new_password)
        with self._session(conn, [password]) as cursor:
            hosts = _hosts(cursor, name)
            if not hosts:
                raise EngineError(f"MySQL user {name} does not exist")
            for host in hosts:
                cursor.execute(
                    f"ALTER USER {_account(name, host)} IDENTIFIED BY {_literal(password)}"
                )

    def user_exists(self, conn: Connection, username: str) -> bool:
        """Whether any host row of that user name exists."""
        name = check_username(username)
        with self._session(conn) as cursor:
            return bool(_hosts(cursor, name))

    def list_users(self, conn: Connection, prefix: str) -> list[str]:
        """User names starting with `prefix`, compared literally (no LIKE), sorted."""
        check_prefix(prefix)
        with self._session(conn) as cursor:
            cursor.execute(
                "SELECT DISTINCT User FROM mysql.user WHERE LEFT(User, CHAR_LENGTH(%s)) = %s",
                (prefix, prefix),
            )
            names = {_text(row[0]) for row in cursor.fetchall()}
        return sorted(n for n in names if n.startswith(prefix))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _hosts(cursor: Cursor, name: str) -> list[str]:
    # mysql.user is a table on MySQL and a view over mysql.global_priv on MariaDB 10.4+.
    cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (name,))
    return [_text(row[0]) for row in cursor.fetchall()]


def _drop_all(cursor: Cursor, name: str) -> None:
    for host in _hosts(cursor, name):
        cursor.execute(f"DROP USER IF EXISTS {_account(name, host)}")


def _kill_sessions(cursor: Cursor, name: str) -> None:
    cursor.execute(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s AND ID <> CONNECTION_ID()",
        (name,),
    )
    for (session_id,) in cursor.fetchall():
        try:
            cursor.execute("KILL CONNECTION %s", (int(session_id),))
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != _UNKNOWN_THREAD:
                raise


def _is_client_error(exc: pymysql.MySQLError) -> bool:
    code = exc.args[0] if exc.args else None
    return isinstance(code, int) and _FIRST_CLIENT_ERROR <= code <= _LAST_CLIENT_ERROR


def _reason(exc: pymysql.MySQLError, hidden: Iterable[str]) -> str:
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return scrub(text, hidden)
